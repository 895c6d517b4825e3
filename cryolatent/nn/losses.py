"""VAE objective: Hartley-pixel reconstruction error plus a weighted KL divergence."""

from __future__ import annotations

import torch


def recon_loss(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
               norm: float | None = None) -> torch.Tensor:
    """Mean squared error over all (masked) pixels of the batch; with ``weights`` (per pixel) and
    ``norm``, ``sum(weights * err) / norm`` per image, averaged over the batch."""
    err = (pred.float() - target.float()) ** 2
    if weights is None and norm is None:
        return torch.mean(err)
    per_image = (err if weights is None else err * weights).sum(-1) / (norm or err.shape[-1])
    return per_image.mean()


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
    weights: torch.Tensor | None = None,
    norm: float | None = None,
    n_pixels: int | None = None,
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
    weights, norm
        For a rendered subset of the pixels (:func:`recon_loss`).
    n_pixels
        Pixels of the full slice (default ``M``, the pixels given).

    Returns
    -------
    ``loss, recon, kl`` (scalars).
    """
    recon = recon_loss(pred, target, weights, norm)
    if mu is None:
        kl = torch.zeros((), device=recon.device)
        return recon, recon, kl
    kl = kl_divergence(mu, logvar)
    return recon + beta * kl / (n_pixels or pred.shape[-1]), recon, kl
