"""Tools that show the chain rule at work: explanations, drawings, the animated backward pass.

``cr.explain(output)`` writes the chain rule out on the recorded graph, step by step;
``cr.draw(output)`` draws the graph (Graphviz); ``Explanation.to_html(path)`` writes the
animated backward pass. All three read the engine's one backward walk.
"""

from .draw import Drawing, draw
from .explanation import Explanation, explain

__all__ = ["Drawing", "Explanation", "draw", "explain"]
