"""The op table: every differentiable primitive, one entry each (see ``registry.py``).

``elementwise`` arithmetic, math and activations; ``reductions`` sums, extremes, softmax;
``linalg`` matmul, einsum, inv/det/solve/cholesky; ``shape`` reshape, permute, cat, pad, ...;
``indexing`` x[key], gather, scatter.
"""

from .registry import ALL_OPS, Op, Sample, all_ops, defop
