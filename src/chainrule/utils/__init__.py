"""``cr.utils``: PyTorch's ``torch.utils`` helpers; ``cr.utils.checkpoint`` (activation
checkpointing)."""

from __future__ import annotations

from . import checkpoint

__all__ = ["checkpoint"]
