"""Rotations: RELION Euler angles, cryoSPARC rotation vectors, random poses.

Conventions (see docs/conventions.md): a pose matrix ``R`` maps an image
frequency row vector ``k2 = (kx, ky, 0)`` to the volume frequency ``k2 @ R``;
``R`` is RELION's Euler matrix ``A(rot, tilt, psi)``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def euler_relion_to_matrix(euler_deg: np.ndarray) -> np.ndarray:
    """RELION Euler angles (rot, tilt, psi; degrees, ZYZ) to pose matrices.

    Parameters
    ----------
    euler_deg
        ``(N, 3)`` or ``(3,)`` array of ``rlnAngleRot, rlnAngleTilt, rlnAnglePsi``.

    Returns
    -------
    np.ndarray
        ``(N, 3, 3)`` (or ``(3, 3)``) matrices ``A = Rz(-psi) Ry(-tilt) Rz(-rot)``,
        as cryoDRGN's ``parse_pose_star`` writes them.
    """
    euler = np.asarray(euler_deg, dtype=np.float64)
    single = euler.ndim == 1
    mats = Rotation.from_euler("ZYZ", euler.reshape(-1, 3), degrees=True).as_matrix()
    mats = np.ascontiguousarray(np.swapaxes(mats, -1, -2))
    return mats[0] if single else mats


def matrix_to_euler_relion(rots: np.ndarray) -> np.ndarray:
    """Inverse of :func:`euler_relion_to_matrix`: ``(N, 3, 3)`` -> ``(N, 3)`` degrees."""
    rots = np.asarray(rots, dtype=np.float64)
    single = rots.ndim == 2
    mats = np.swapaxes(rots.reshape(-1, 3, 3), -1, -2)
    import warnings

    with warnings.catch_warnings():  # gimbal lock at tilt 0/180 is fine: any split works
        warnings.simplefilter("ignore", UserWarning)
        euler = Rotation.from_matrix(mats).as_euler("ZYZ", degrees=True)
    return euler[0] if single else euler


def rotvec_to_matrix_cryosparc(rotvec: np.ndarray) -> np.ndarray:
    """cryoSPARC ``alignments3D/pose`` (axis-angle) to pose matrices (Rodrigues, transposed)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    mats = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix()
    mats = np.ascontiguousarray(np.swapaxes(mats, -1, -2))
    return mats[0] if rotvec.ndim == 1 else mats


def matrix_to_rotvec_cryosparc(rots: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rotvec_to_matrix_cryosparc`."""
    rots = np.asarray(rots, dtype=np.float64)
    vec = Rotation.from_matrix(np.swapaxes(rots.reshape(-1, 3, 3), -1, -2)).as_rotvec()
    return vec[0] if rots.ndim == 2 else vec


def random_rotations(n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly (Haar measure) from SO(3)."""
    rng = np.random.default_rng(seed)
    return Rotation.random(n, random_state=rng).as_matrix()
