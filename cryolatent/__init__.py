"""cryolatent: heterogeneous cryo-EM reconstruction, Jupyter-first.

The library is layered: ``fourier``/``geometry``/``ctf``/``projection`` are the
forward model, ``io`` reads and writes what RELION, cryoSPARC and cryoDRGN
users have, ``simulate``/``backproject``/``fsc`` build on both, and the CLI
(``cryolatent --help``) calls the same functions the notebooks call.
"""

__version__ = "0.1.0"
