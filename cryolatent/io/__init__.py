"""Reading and writing particle data: MRC stacks, RELION ``.star``, cryoSPARC ``.cs``,
cryoDRGN ``.pkl`` files. See docs/conventions.md for the conventions."""

from __future__ import annotations

from cryolatent.io.dataset import load_dataset, pixel_size, read_ctf, read_poses
from cryolatent.io.export import write_cs, write_star
from cryolatent.io.mrc import MrcHeader, read_mrc_header, read_volume, write_mrcs, write_volume
from cryolatent.io.particles import ParticleStack
from cryolatent.io.sources import read_particles
from cryolatent.io.pkl import (
    load_index,
    load_pkl,
    write_ctf_pkl,
    write_index_pkl,
    write_poses_pkl,
)

__all__ = [
    "MrcHeader",
    "ParticleStack",
    "load_dataset",
    "load_index",
    "load_pkl",
    "pixel_size",
    "read_ctf",
    "read_mrc_header",
    "read_particles",
    "read_poses",
    "read_volume",
    "write_cs",
    "write_ctf_pkl",
    "write_index_pkl",
    "write_mrcs",
    "write_poses_pkl",
    "write_star",
    "write_volume",
]
