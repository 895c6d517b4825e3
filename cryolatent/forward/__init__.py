"""The forward model: Fourier transforms, rotations, frequency lattices, CTF, projection.

- :mod:`.fourier` centred FFT / Hartley transforms;
- :mod:`.geometry` rotations (RELION Euler angles, cryoSPARC rotation vectors);
- :mod:`.lattice` every frequency lattice (image and volume grids, the
  ``(D+1)^2`` Hartley training lattice);
- :mod:`.ctf` the contrast transfer function;
- :mod:`.projection` Fourier-slice projection and its adjoint (slice insertion).
"""
