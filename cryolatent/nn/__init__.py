"""Neural networks: positional encodings, MLPs, encoder, coordinate decoder, VAE, losses."""

from cryolatent.nn.decoder import CoordinateDecoder, eval_volume, render
from cryolatent.nn.encoder import Encoder
from cryolatent.nn.encodings import PE_TYPES, make_encoding
from cryolatent.nn.losses import kl_divergence, recon_loss, vae_loss
from cryolatent.nn.mlp import MLP
from cryolatent.nn.vae import HetVAE, build_model

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
