"""Tools that show the chain rule at work: explanations, drawings, the animated backward pass."""
