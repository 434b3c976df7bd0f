"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their one-step cells.

Parameters, shapes, defaults and return values are PyTorch's: ``weight_ih_l{k}`` of shape
``(gates·hidden, input)``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (with the
suffix ``_reverse`` for the backward direction), all drawn from U(-1/√hidden, 1/√hidden).
Each layer's time loop is one fused op (backpropagation through time in its rule).
``RNN``, ``LSTM`` and ``GRU`` also take a ``PackedSequence`` (``cr.nn.utils.rnn``) and then
return one, with each sequence's final states at its own last step.

>>> import chainrule as cr
>>> lstm = cr.nn.LSTM(4, 8, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(cr.randn(3, 5, 4))
>>> out.shape, h.shape, c.shape
((3, 5, 8), (2, 3, 8), (2, 3, 8))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import _dtypes
from ... import functional as CF
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..functional import recurrent as RF
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _pack_like, pad_packed_sequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _param(shape: tuple[int, ...], dtype: Any) -> Parameter:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    return Parameter(np.zeros(shape, dtype=d))


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of every layer and direction, and the
    argument handling of ``forward``."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{mode}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{mode}: num_layers must be a positive int, got {num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"{mode}: dropout must be a number in [0, 1], got {dropout!r}")
        if proj_size < 0 or (proj_size and mode != "LSTM"):
            raise ValueError(f"{mode}: proj_size must be >= 0 and is only for LSTM")
        if proj_size >= hidden_size:
            raise ValueError("LSTM: proj_size has to be smaller than hidden_size")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        dirs = 2 if bidirectional else 1
        gate = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                layer_in = input_size if layer == 0 else real_hidden * dirs
                shapes: list[tuple[str, tuple[int, ...]]] = [
                    ("weight_ih", (gate, layer_in)), ("weight_hh", (gate, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if proj_size:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + sfx, _param(shape, dtype))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/√hidden, 1/√hidden), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name in self._flat_weights_names:
            init.uniform_(getattr(self, name), -bound, bound)

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters grouped per layer and direction."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional
                                                                    else 1))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self) -> None:
        """A no-op (PyTorch packs cuDNN weights here)."""

    def _check_input(self, input: Tensor) -> bool:
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: expected a 2-D (unbatched) or 3-D input, "
                             f"got shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input.size(-1) must be equal to "
                             f"input_size. Expected {self.input_size}, got {input.shape[-1]}")
        if input.shape[1 if input.ndim == 3 and self.batch_first else 0] == 0:
            raise ValueError(f"{type(self).__name__}: expected a sequence length larger than "
                             f"0, got input of shape {input.shape}")
        return input.ndim == 3

    def _state(self, hx: Any, batch: int, size: int, dtype: Any, batched: bool,
               what: str) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        expected = (self.num_layers * dirs, batch, size)
        if hx is None:
            return Tensor._make(np.zeros(expected, dtype=dtype))
        if not batched:
            if hx.ndim != 2:
                raise ValueError(f"{type(self).__name__}: for unbatched 2-D input, {what} "
                                 f"should also be 2-D but got {hx.ndim}-D tensor")
            hx = CF.unsqueeze(hx, 1)
        if tuple(hx.shape) != expected:
            raise ValueError(f"{type(self).__name__}: expected {what} size {expected}, got "
                             f"{tuple(hx.shape)}")
        return hx

    def _run(self, input: Tensor, states: list, batch_first: bool,
             lengths: Any = None) -> tuple:
        fn = {"RNN_TANH": RF.rnn_tanh, "RNN_RELU": RF.rnn_relu, "GRU": RF.gru}.get(self.mode)
        args = (self._flat_weights, self.bias, self.num_layers, self.dropout, self.training,
                self.bidirectional, batch_first)
        if fn is None:
            return RF.lstm(input, states, *args, has_proj=bool(self.proj_size),
                           lengths=lengths)
        return fn(input, states[0], *args, lengths=lengths)

    def _initial_states(self, hx: Any, batch: int, dtype: Any, batched: bool) -> list:
        if self.mode != "LSTM":
            return [self._state(hx, batch, self.hidden_size, dtype, batched, "hx")]
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("LSTM: hx must be a tuple (h_0, c_0)")
            h0, c0 = hx
        return [self._state(h0, batch, self.proj_size or self.hidden_size, dtype, batched,
                            "h_0"),
                self._state(c0, batch, self.hidden_size, dtype, batched, "c_0")]

    def _forward_packed(self, input: PackedSequence, hx: Any) -> tuple:
        """A packed batch runs padded in its original order (as ``hx`` and the final states
        are), and its output is packed again like the input."""
        name = type(self).__name__
        data = input.data
        if not isinstance(data, Tensor) or data.ndim != 2:
            raise ValueError(f"{name}: a PackedSequence's data must be 2-D (sum of lengths, "
                             f"input_size), got shape {getattr(data, 'shape', None)}")
        if data.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {data.shape[-1]}")
        padded, lengths = pad_packed_sequence(input)
        states = self._initial_states(hx, padded.shape[1], data.dtype, True)
        out, *final = self._run(padded, states, False, lengths.data)
        return _pack_like(out, input), final

    def forward(self, input: Any, hx: Any = None) -> Any:
        if isinstance(input, PackedSequence):
            out, final = self._forward_packed(input, hx)
            return (out, (final[0], final[1])) if self.mode == "LSTM" else (out, final[0])
        batched = self._check_input(input)
        x = input if batched else CF.unsqueeze(input, 1)
        if not batched and self.batch_first:
            x = CF.transpose(x, 0, 1)  # the module transposes back
        batch = x.shape[0 if self.batch_first else 1]
        states = self._initial_states(hx, batch, input.dtype, batched)
        out, *final = self._run(x, states, self.batch_first)
        if not batched:
            out = CF.squeeze(out, 0 if self.batch_first else 1)
            final = [CF.squeeze(f, 1) for f in final]
        if self.mode == "LSTM":
            return out, (final[0], final[1])
        return out, final[0]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh) (or ReLU), stacked
    ``num_layers`` deep, optionally bidirectional.

    ``forward(input, h_0=None)`` takes ``(T, B, input_size)`` (``(B, T, ·)`` with
    ``batch_first``, or unbatched ``(T, ·)``) and returns ``(output, h_n)``: the last layer's
    states for every step ``(T, B, D·H)`` and every layer's final state ``(L·D, B, H)``.
    With a ``PackedSequence`` input the output is packed like it, and ``h_n`` holds each
    sequence's state at its own last step (``h_0`` and ``h_n`` in the original batch order).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or "
                             "'relu'")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: (i, f, g, o) = (σ, σ, tanh, σ)(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh),
    c_t = f⊙c_{t-1} + i⊙g, h_t = o⊙tanh(c_t) (projected by W_hr with ``proj_size``).

    ``forward(input, (h_0, c_0)=None)`` returns ``(output, (h_n, c_n))``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit: r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise,
    n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), h_t = (1 - z)⊙n + z⊙h_{t-1}.

    ``forward(input, h_0=None)`` returns ``(output, h_n)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


# --------------------------------------------------------------------------- cells

class RNNCellBase(Module):
    """``weight_ih`` (gates·hidden, input), ``weight_hh``, ``bias_ih``, ``bias_hh``, drawn
    from U(-1/√hidden, 1/√hidden)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = _param((num_chunks * hidden_size, input_size), dtype)
        self.weight_hh = _param((num_chunks * hidden_size, hidden_size), dtype)
        if bias:
            self.bias_ih = _param((num_chunks * hidden_size,), dtype)
            self.bias_hh = _param((num_chunks * hidden_size,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _prepare(self, input: Tensor, hx: Any) -> tuple[Tensor, Any, bool]:
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: expected input to be 1-D or 2-D, got "
                             f"shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: input has {input.shape[-1]} features, "
                             f"expected input_size={self.input_size}")
        batched = input.ndim == 2
        x = input if batched else CF.unsqueeze(input, 0)
        if hx is not None:
            self._check_state(hx, input)
            if not batched:
                hx = tuple(CF.unsqueeze(h, 0) for h in hx) if isinstance(hx, (tuple, list)) \
                    else CF.unsqueeze(hx, 0)
        return x, hx, batched

    def _check_state(self, hx: Any, input: Tensor) -> None:
        """Each state must be ``input.shape[:-1] + (hidden_size,)``."""
        expected = tuple(input.shape[:-1]) + (self.hidden_size,)
        for h in hx if isinstance(hx, (tuple, list)) else (hx,):
            if tuple(h.shape) != expected:
                raise ValueError(f"{type(self).__name__}: expected a hidden state of shape "
                                 f"{expected} for input of shape {input.shape}, got "
                                 f"{tuple(h.shape)}")

    def _zeros(self, x: Tensor) -> Tensor:
        return Tensor._make(np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"  # unquoted, as PyTorch
        return s


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (or ReLU)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = self._zeros(x) if h is None else h
        cell = F.rnn_tanh_cell if self.nonlinearity == "tanh" else F.rnn_relu_cell
        out = cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else CF.squeeze(out, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``forward(input, (h, c)=None)`` returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a tuple (h, c) of two tensors")
        x, st, batched = self._prepare(input, hx)
        if st is None:
            st = (self._zeros(x), self._zeros(x))
        h, c = F.lstm_cell(x, st, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (CF.squeeze(h, 0), CF.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, h, batched = self._prepare(input, hx)
        h = self._zeros(x) if h is None else h
        out = F.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return out if batched else CF.squeeze(out, 0)
