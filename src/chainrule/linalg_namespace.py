"""``cr.linalg``: inv, det, slogdet, solve, cholesky, norm, vector_norm."""

from .functional import linalg as _linalg

inv = _linalg.inv
det = _linalg.det
slogdet = _linalg.slogdet
solve = _linalg.solve
cholesky = _linalg.cholesky
norm = _linalg.norm
vector_norm = _linalg.vector_norm

__all__ = ["inv", "det", "slogdet", "solve", "cholesky", "norm", "vector_norm"]
