"""The heterogeneous VAE: encoder q(z|X), coordinate decoder V(k, z), renderer."""

from __future__ import annotations

import torch
from torch import nn

from cryolatent.forward.lattice import Lattice, PixelSubset
from cryolatent.nn.decoder import CoordinateDecoder, masked_ctf, render
from cryolatent.nn.encoder import Encoder
from cryolatent.nn.encodings import make_encoding


class HetVAE(nn.Module):
    """Encoder + decoder; ``forward`` renders the predicted images of a batch.

    Parameters
    ----------
    encoder
        Posterior network, or ``None`` for a homogeneous model (``decoder.zdim == 0``).
    decoder
        Coordinate decoder.
    lattice
        Training lattice; kept as a sub-module so ``.to(device)`` moves it (its
        buffers are not saved in the ``state_dict``).
    """

    def __init__(self, encoder: Encoder | None, decoder: CoordinateDecoder, lattice: Lattice):
        super().__init__()
        if (encoder is None) != (decoder.zdim == 0):
            raise ValueError("a homogeneous decoder (zdim=0) goes without an encoder and vice versa")
        if encoder is not None and encoder.zdim != decoder.zdim:
            raise ValueError(f"encoder zdim {encoder.zdim} != decoder zdim {decoder.zdim}")
        self.encoder = encoder
        self.decoder = decoder
        self.lattice = lattice

    @property
    def zdim(self) -> int:
        """Latent dimension (0 for a homogeneous model)."""
        return self.decoder.zdim

    def encode(self, x: torch.Tensor, ctf_params: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, in_dim)`` encoder input -> ``mu, logvar`` (float32).

        With ``ctf_params``, masked Hartley input is first phase-flipped (multiplied
        by the sign of each particle's CTF), as cryoDRGN does, so that the encoder
        does not have to learn the defocus-dependent contrast reversals.
        """
        return self._encode(x, masked_ctf(self.lattice, ctf_params))

    def _encode(self, x: torch.Tensor, ctf: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if ctf is not None and x.shape[-1] == self.lattice.n_masked:
            with torch.autocast(x.device.type, enabled=False):
                x = x * torch.sign(ctf)
        mu, logvar = self.encoder(x)
        return mu.float(), logvar.float()

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Sample ``z = mu + exp(logvar / 2) * eps`` (the torch global RNG draws ``eps``)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(
        self,
        x: torch.Tensor | None,
        rots: torch.Tensor,
        ctf_params: torch.Tensor | None = None,
        sample: bool = True,
        pixels: PixelSubset | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Encode, sample ``z`` (or take ``mu`` when ``sample=False``) and render (only ``pixels``
        when given: the encoder still sees every pixel).

        Returns
        -------
        ``pred (B, M)`` (``(B, P)`` on ``pixels``), ``mu``, ``logvar`` (``None`` for a homogeneous model).
        """
        ctf = masked_ctf(self.lattice, ctf_params)  # once, for the phase flip and the rendering
        if self.encoder is None:
            return render(self.decoder, self.lattice, rots, None, ctf, pixels), None, None
        mu, logvar = self._encode(x, ctf)
        z = self.reparameterize(mu, logvar) if sample else mu
        return render(self.decoder, self.lattice, rots, z, ctf, pixels), mu, logvar


def build_model(
    D: int,
    zdim: int,
    *,
    enc_dim: int,
    enc_layers: int,
    dec_dim: int,
    dec_layers: int,
    pe_type: str,
    pe_dim: int | None,
    enc_in_dim: int | None = None,
    residual: bool = True,
    include_dc: bool = True,
    grid_levels: int = 4,
    grid_features: int = 4,
    grid_res: int | None = None,
) -> HetVAE:
    """Assemble lattice, encoder and decoder for box ``D``.

    ``enc_in_dim`` defaults to the number of masked lattice pixels (Hartley input);
    ``grid_*`` shape the feature grids of ``pe_type="grid"``.
    """

    lattice = Lattice(D, include_dc=include_dc)
    encoding = make_encoding(pe_type, D, pe_dim, grid_levels=grid_levels, grid_features=grid_features,
                             grid_res=grid_res)
    decoder = CoordinateDecoder(encoding, dec_dim, dec_layers, zdim, residual)
    encoder = None
    if zdim:
        encoder = Encoder(enc_in_dim or lattice.n_masked, enc_dim, enc_layers, zdim, residual)
    return HetVAE(encoder, decoder, lattice)
