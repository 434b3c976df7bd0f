"""``cr.nn.utils.parametrizations``: orthogonal, weight_norm and spectral_norm as parametrizations."""

__all__: list[str] = []
