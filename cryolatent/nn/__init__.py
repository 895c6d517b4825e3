"""Neural networks: positional encodings, MLPs, encoder, coordinate decoder, VAE, losses."""

from .decoder import CoordinateDecoder, eval_volume, render
from .encoder import Encoder
from .encodings import PE_TYPES, make_encoding
from .losses import kl_divergence, recon_loss, vae_loss
from .mlp import MLP
from .vae import HetVAE, build_model

__all__ = [
    "PE_TYPES",
    "MLP",
    "CoordinateDecoder",
    "Encoder",
    "HetVAE",
    "build_model",
    "eval_volume",
    "kl_divergence",
    "make_encoding",
    "recon_loss",
    "render",
    "vae_loss",
]
