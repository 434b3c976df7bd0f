"""The layers of ``cr.nn`` (one import line per submodule)."""

from .activation import *
from .container import *
from .dropout import *
from .linear import *
from .loss import *
from .module import *
from .normalization import *
from .sparse import *
