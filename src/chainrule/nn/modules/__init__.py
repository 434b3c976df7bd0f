"""The layers of ``cr.nn`` (one import line per submodule)."""

from .activation import *
from .adaptive import *
from .attention import *
from .container import *
from .conv import *
from .distance import *
from .dropout import *
from .lazy import *
from .linear import *
from .loss import *
from .module import *
from .normalization import *
from .padding import *
from .pooling import *
from .rnn import *
from .sparse import *
from .transformer import *
from .upsampling import *
