"""Homogeneous reconstruction and its validation.

- :mod:`.backproject` CTF-weighted Wiener back-projection with half-maps;
- :mod:`.fsc` Fourier shell correlation, masks and resolution;
- :mod:`.homogeneous` the consensus map of a particle file, written with its
  half-maps and FSC curve (``cryolatent backproject``).
"""

from cryolatent.reconstruct.backproject import Reconstruction
from cryolatent.reconstruct.fsc import FSCResult, soft_sphere_mask

# backproject() and fsc() stay in their modules (cl.fsc is the latter); homogeneous.consensus_map
# (cl.consensus_map) writes figures through cl.pl, so it is not imported here: pl draws FSC curves
__all__ = ["Reconstruction", "FSCResult", "soft_sphere_mask"]
