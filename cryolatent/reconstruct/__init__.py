"""Homogeneous reconstruction and its validation.

- :mod:`.backproject` CTF-weighted Wiener back-projection with half-maps;
- :mod:`.fsc` Fourier shell correlation, masks and resolution.

The step that reads a particle file and writes a consensus map with its half-maps and
FSC curve (``cryolatent backproject``) is :mod:`cryolatent.consensus`.
"""

from cryolatent.reconstruct.backproject import Reconstruction
from cryolatent.reconstruct.fsc import FSCResult, soft_sphere_mask

# backproject() and fsc() stay in their modules (cl.fsc is the latter)
__all__ = ["Reconstruction", "FSCResult", "soft_sphere_mask"]
