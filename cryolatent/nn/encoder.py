"""The encoder of q(z | X): an MLP from a flattened image to ``(mu, logvar)``."""

from __future__ import annotations

import torch
from torch import nn

from cryolatent.nn.mlp import MLP


class Encoder(nn.Module):
    """MLP from ``(B, in_dim)`` image pixels to the Gaussian posterior ``(mu, logvar)``.

    Parameters
    ----------
    in_dim
        Pixels per image (e.g. the masked, normalised Hartley pixels).
    hidden, layers
        Width and number of hidden-to-hidden layers (see :class:`~cryolatent.nn.mlp.MLP`).
    zdim
        Latent dimension.
    residual
        Residual hidden layers.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, zdim: int, residual: bool = True):
        super().__init__()
        if zdim < 1:
            raise ValueError(f"an encoder needs zdim >= 1, got {zdim}")
        self.in_dim, self.zdim = int(in_dim), int(zdim)
        self.mlp = MLP(in_dim, hidden, layers, 2 * zdim, residual=residual)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, in_dim)`` -> ``mu, logvar``, each ``(B, zdim)``."""
        out = self.mlp(x.reshape(x.shape[0], -1))
        return out[:, : self.zdim], out[:, self.zdim :]
