"""``cr.nn.utils.parametrize``: a parameter computed from others on access (PyTorch's names)."""

__all__: list[str] = []
