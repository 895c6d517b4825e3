"""Homogeneous reconstruction and its validation.

- :mod:`.backproject` CTF-weighted Wiener back-projection with half-maps;
- :mod:`.fsc` Fourier shell correlation, masks and resolution;
- :mod:`.homogeneous` the consensus map of a particle file, written with its
  half-maps and FSC curve (``cryolatent backproject``).
"""

from cryolatent.reconstruct.backproject import Reconstruction
from cryolatent.reconstruct.fsc import FSCResult, soft_sphere_mask
from cryolatent.reconstruct.homogeneous import consensus_map

# the functions backproject() and fsc() stay in their modules (cl.fsc is the latter)
__all__ = ["Reconstruction", "FSCResult", "soft_sphere_mask", "consensus_map"]
