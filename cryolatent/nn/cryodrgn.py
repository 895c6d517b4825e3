"""A cryoDRGN decoder's weights in a :class:`~cryolatent.nn.decoder.CoordinateDecoder`.

cryoDRGN (Zhong et al. 2021) decodes with a positionally encoded coordinate network of the
same family as ours: ``[pe(k), z]`` -> ReLU layers, the hidden ones residual -> ``(a, b)``
with ``F(k) = a + i b``, evaluated on one half-space of frequencies and completed by
Friedel symmetry. The differences are conventions, and each is a fixed change of weights:

- its evaluated half-space is ``kz <= 0`` (``kz > 0`` is mapped to ``-k``), ours is the
  opposite one. Evaluating its network at ``-k`` flips the sign of every ``sin`` feature
  and leaves every ``cos`` feature, and ``F(k) = conj F(-k)`` flips the sign of ``b``: so
  its sine columns of the first layer and its ``b`` output row are negated;
- its features are ordered per axis (``sin`` of x at every frequency, then ``cos`` of x,
  then y, z); ours are all sines, then all cosines: a column permutation;
- ``z`` enters as extra input columns; ours is a separate ``z_in`` layer: the same
  product, split;
- at the origin (its own mirror) cryoDRGN reads ``a - b`` of its network, i.e. ``a + b`` of
  the converted one: the decoder's ``origin_mirrored`` says so to
  :func:`~cryolatent.nn.decoder.eval_volume` (the zero-frequency term, a constant offset of
  the map);
- ``cryodrgn eval_vol --downsample n`` keeps the frequencies inside the sphere of the smaller
  box's Nyquist and does not rescale the values: :meth:`DecoderOnly.volume_args`.

Only the network's shapes and the run's ``model_args`` are read: ``pe_type``, ``pe_dim``,
``feat_sigma`` (stored in the weights for ``gaussian`` features), ``players``, ``pdim``,
``zdim``, ``domain`` (``fourier``) and ``activation`` (``relu``).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, Mapping

import torch
from torch import nn

from cryolatent.nn.decoder import CoordinateDecoder
from cryolatent.nn.encodings import AxisEncoding, GaussianEncoding, make_encoding

PREFIX = "decoder.decoder.main."  # the decoder MLP's layers in a cryoDRGN HetOnlyVAE state dict
RAND_FREQS = "decoder.rand_freqs"  # gaussian features (3 * pe_dim, 3), before scaling by D // 2


class UnsupportedModel(ValueError):
    """The weights describe a cryoDRGN model this conversion does not cover."""


def _layers(state: Mapping[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """``(weight, bias, residual)`` of each linear layer of the decoder MLP, in order.

    cryoDRGN stores a plain linear layer as ``main.I.weight`` and a residual one
    (``linear(x) + x``) as ``main.I.linear.weight``; ``I`` counts activations too.
    """
    found: dict[int, tuple[torch.Tensor, torch.Tensor, bool]] = {}
    pattern = re.compile(re.escape(PREFIX) + r"(\d+)\.(linear\.)?weight$")
    for key, weight in state.items():
        m = pattern.match(key)
        if m:
            bias = state[key[: -len("weight")] + "bias"]
            found[int(m.group(1))] = (weight, bias, bool(m.group(2)))
    if not found:
        raise UnsupportedModel(f"no decoder layers ({PREFIX}N.weight) in the weights")
    return [found[i] for i in sorted(found)]


def _feature_order(n_freq: int) -> torch.Tensor:
    """For each of our ``6 n_freq`` axis features (sin x,y,z at every frequency, then cos),
    the column of cryoDRGN's layout (per axis: sin at every frequency, then cos)."""
    ours = []
    for trig in range(2):  # 0: sin, 1: cos
        for axis in range(3):
            for f in range(n_freq):
                ours.append(axis * 2 * n_freq + trig * n_freq + f)
    return torch.tensor(ours)


def decoder_from_cryodrgn(state: Mapping[str, torch.Tensor], model_args: Mapping[str, Any], D: int
                          ) -> CoordinateDecoder:
    """Our decoder computing what a cryoDRGN ``train_vae`` decoder computes.

    Parameters
    ----------
    state
        The run's ``model_state_dict`` (a ``HetOnlyVAE``'s).
    model_args
        ``model_args`` of its ``config.yaml``.
    D
        Training box (pixels; cryoDRGN's lattice has ``D + 1`` points a side).

    Raises
    ------
    UnsupportedModel
        A Hartley-domain decoder, an activation other than ReLU, or weights whose shapes do
        not match ``model_args``.
    """
    domain = model_args.get("domain", "fourier")
    if domain != "fourier":
        raise UnsupportedModel(f"decoder domain {domain!r}: only cryoDRGN's default 'fourier' decoder is supported")
    activation = model_args.get("activation", "relu")
    if activation != "relu":
        raise UnsupportedModel(f"activation {activation!r}: only ReLU decoders are supported")
    pe_type = model_args.get("pe_type", "gaussian")
    zdim = int(model_args.get("zdim") or 0)
    layers = _layers(state)
    (w_in, b_in, res_in), hidden_layers, (w_out, b_out, res_out) = layers[0], layers[1:-1], layers[-1]
    width = w_in.shape[0]
    if res_out or not all(res for _, _, res in hidden_layers) or w_out.shape[0] != 2:
        raise UnsupportedModel("the decoder is not input -> residual hidden layers -> 2 outputs")
    if res_in:  # an input as wide as the hidden layers is residual too: W x + x = (W + I) x
        w_in = w_in + torch.eye(width, dtype=w_in.dtype)
    n_feat = w_in.shape[1] - zdim
    n_freq = int(model_args.get("pe_dim") or D // 2)
    if pe_type == "gaussian":
        if RAND_FREQS not in state:
            raise UnsupportedModel(f"gaussian features without {RAND_FREQS} in the weights")
        freqs = state[RAND_FREQS].float()
        encoding = GaussianEncoding(freqs.shape[0], 1.0)
        encoding.B.copy_(freqs * (D // 2))
        order = torch.arange(n_feat)  # sin of every feature, then cos: the same layout as ours
    else:
        # cryoDRGN's linear features are 1 .. D/2 whatever pe_dim says
        encoding = (AxisEncoding(torch.arange(1, D // 2 + 1, dtype=torch.float64)) if pe_type == "linear_lowf"
                    else make_encoding(pe_type, D, n_freq))
        order = _feature_order(encoding.out_dim // 6) if isinstance(encoding, AxisEncoding) else torch.arange(n_feat)
    if encoding.out_dim != n_feat:
        raise UnsupportedModel(f"{pe_type} features for box {D}: expected {encoding.out_dim} input columns, "
                               f"the weights have {n_feat} (+ zdim {zdim})")
    decoder = CoordinateDecoder(encoding, width, len(hidden_layers), zdim, residual=True)
    sign = torch.ones(n_feat)
    sign[: n_feat // 2] = -1  # sine features change sign at -k
    with torch.no_grad():
        decoder.mlp.inp.weight.copy_(w_in[:, :n_feat][:, order] * sign)
        decoder.mlp.inp.bias.copy_(b_in)
        if zdim:
            decoder.z_in.weight.copy_(w_in[:, n_feat:])
        for lin, (w, b, _) in zip(decoder.mlp.hidden, hidden_layers):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        decoder.mlp.out.weight.copy_(w_out * torch.tensor([[1.0], [-1.0]]))  # b -> -b: F(k) = conj F(-k)
        decoder.mlp.out.bias.copy_(b_out * torch.tensor([1.0, -1.0]))
    decoder.origin_mirrored = True
    return decoder.eval()


class DecoderOnly(nn.Module):
    """A decoder with what :func:`~cryolatent.training.evaluate.eval_volumes` reads of a model:
    ``decoder``, ``zdim`` and ``lattice.D`` (the training box)."""

    def __init__(self, decoder: CoordinateDecoder, D: int):
        super().__init__()
        self.decoder = decoder
        self.D = int(D)
        self.lattice = SimpleNamespace(D=self.D)  # what a model's lattice gives eval_volumes: the box

    @property
    def zdim(self) -> int:
        """Latent dimension."""
        return self.decoder.zdim

    def volume_args(self, n: int, norm: float) -> dict:
        """:func:`~cryolatent.nn.decoder.eval_volume` arguments for a volume of box ``n`` as
        ``cryodrgn eval_vol`` writes it: frequencies within the sphere of box ``n``'s Nyquist, and
        values not rescaled for the smaller box (ours keep the density scale)."""
        return {"norm": norm * (self.D / n) ** 3, "radius": 0.5 * n / self.D}
