"""VAE objective: Hartley-pixel reconstruction error plus a weighted KL divergence."""

from __future__ import annotations

import torch


def recon_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all (masked) pixels of the batch."""
    return torch.mean((pred.float() - target.float()) ** 2)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over ``z``, averaged over the batch."""
    mu, logvar = mu.float(), logvar.float()
    return torch.mean(-0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=-1))


def vae_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mu: torch.Tensor | None,
    logvar: torch.Tensor | None,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``loss = recon + beta * KL / n_pixels`` (cryoDRGN's normalisation).

    Parameters
    ----------
    pred, target
        ``(B, M)`` predicted and observed masked Hartley pixels.
    mu, logvar
        ``(B, zdim)`` posterior parameters, or ``None`` (homogeneous model: KL = 0).
    beta
        KL weight.

    Returns
    -------
    ``loss, recon, kl`` (scalars).
    """
    recon = recon_loss(pred, target)
    if mu is None:
        kl = torch.zeros((), device=recon.device)
        return recon, recon, kl
    kl = kl_divergence(mu, logvar)
    return recon + beta * kl / pred.shape[-1], recon, kl
