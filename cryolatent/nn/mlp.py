"""Fully connected networks with ReLU activations."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``in -> hidden`` (ReLU), ``layers`` x ``hidden -> hidden`` (ReLU), ``hidden -> out``.

    Parameters
    ----------
    in_dim, hidden, out_dim
        Widths of the input, hidden and output layers.
    layers
        Number of hidden-to-hidden layers (so ``layers + 2`` linear maps in all).
    residual
        Add each hidden layer's input to its output before the ReLU
        (``h <- relu(W h + b + h)``).
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, out_dim: int, residual: bool = True):
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, out_dim)
        self.residual = residual

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate; ``shift`` (broadcastable to the first hidden layer) is added before its ReLU."""
        return self.after_input(self.inp(x), shift)

    def after_input(self, h: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """The rest of :meth:`forward` from the input layer's output ``h = inp(x)`` (which a
        caller evaluating many inputs with one set of weights may keep; it is not modified).

        Without autograd, each hidden layer adds its input and applies the ReLU in place
        (the same numbers, one pass over memory instead of three)."""
        h = h + shift if shift is not None else h
        h = F.relu(h)
        inplace = not torch.is_grad_enabled()
        for lin in self.hidden:
            out = lin(h)
            if inplace and out.dtype == h.dtype:
                h = (out.add_(h) if self.residual else out).relu_()
            else:
                h = F.relu(out + h) if self.residual else F.relu(out)
        return self.out(h)
