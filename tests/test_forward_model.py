"""Analytic checks of the forward model: transforms, rotations, CTF, slices, shifts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from cryolatent.forward import ctf, fourier, geometry, lattice, projection


def gaussian_volume(D, center, sigma):
    z, y, x = np.meshgrid(*[np.arange(D) - D // 2] * 3, indexing="ij")
    cx, cy, cz = center
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * sigma**2))


def blob_volume(D=32, seed=0):
    rng = np.random.default_rng(seed)
    vol = np.zeros((D, D, D))
    for c in rng.normal(size=(6, 3)) * D / 10:
        vol += gaussian_volume(D, c, 1.5)
    return vol.astype(np.float32)


# --- transforms --------------------------------------------------------------

def test_fft_round_trip_and_parseval():
    img = np.random.default_rng(0).normal(size=(3, 16, 16))
    f = fourier.fft_center(img)
    assert np.allclose(fourier.ifft_center(f).real, img)
    assert np.isclose((np.abs(f) ** 2).sum(), (img**2).sum() * 16 * 16)


def test_fft_origin_is_box_centre():
    D = 16
    delta = np.zeros((D, D))
    delta[D // 2, D // 2] = 1  # the real-space origin: a flat transform with zero phase
    assert np.allclose(fourier.fft_center(delta), 1)
    vol = np.ones((D, D, D))
    assert np.isclose(fourier.fft_center(vol, ndim=3)[D // 2, D // 2, D // 2], D**3)


def test_hartley_round_trip_and_relation_to_fft():
    img = np.random.default_rng(1).normal(size=(2, 8, 8))
    h = fourier.ht_center(img)
    f = fourier.fft_center(img)
    assert np.allclose(h, f.real - f.imag)
    assert np.allclose(fourier.iht_center(h), img)
    vol = np.random.default_rng(2).normal(size=(8, 8, 8))
    assert np.allclose(fourier.iht_center(fourier.ht_center(vol, 3), 3), vol)


def test_symmetrize_ht_wraps_nyquist():
    h = np.arange(16.0).reshape(4, 4)
    s = fourier.symmetrize_ht(h)
    assert s.shape == (5, 5)
    assert np.array_equal(s[-1, :-1], h[0]) and np.array_equal(s[:-1, -1], h[:, 0])


def test_frequency_grid_layout():
    k = lattice.frequency_grid(4, 2)
    assert k.shape == (4, 4, 2)
    assert np.allclose(k[2, 2], 0)  # origin at D//2
    assert np.allclose(k[2, 3], [0.25, 0])  # last array axis is kx
    assert np.allclose(k[0, 2], [0, -0.5])  # first array axis is ky, starting at -Nyquist


# --- rotations ----------------------------------------------------------------

def test_relion_euler_known_matrix():
    # rot = 90 deg: A = Rz(-90)
    R = geometry.euler_relion_to_matrix(np.array([90.0, 0, 0]))
    assert np.allclose(R, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-12)
    # tilt = 90 deg: A = Ry(-90)
    R = geometry.euler_relion_to_matrix(np.array([0.0, 90, 0]))
    assert np.allclose(R, [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-12)


def test_relion_euler_composition_order():
    rot, tilt, psi = 30.0, 50.0, -70.0
    A = geometry.euler_relion_to_matrix(np.array([rot, tilt, psi]))
    Rz = lambda a: geometry.euler_relion_to_matrix(np.array([-a, 0, 0]))  # noqa: E731  Rz(a)
    Ry = lambda a: geometry.euler_relion_to_matrix(np.array([0, -a, 0]))  # noqa: E731  Ry(a)
    assert np.allclose(A, Rz(-psi) @ Ry(-tilt) @ Rz(-rot))
    back = geometry.matrix_to_euler_relion(A)
    assert np.allclose(geometry.euler_relion_to_matrix(back), A)


def test_cryosparc_rotvec_is_transposed_rodrigues():
    v = np.array([0, 0, np.pi / 2])  # +90 deg about z
    R = geometry.rotvec_to_matrix_cryosparc(v)
    assert np.allclose(R, [[0, 1, 0], [-1, 0, 0], [0, 0, 1]], atol=1e-12)
    vs = np.random.default_rng(0).normal(size=(5, 3))
    assert np.allclose(geometry.matrix_to_rotvec_cryosparc(geometry.rotvec_to_matrix_cryosparc(vs)), vs)


def test_random_rotations_are_uniform():
    R = geometry.random_rotations(4000, seed=0)
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-10)
    assert np.allclose(np.linalg.det(R), 1)
    # the image of any fixed axis is uniform on the sphere: its z-component is U(-1, 1)
    assert stats.kstest(R[:, 2, 0], "uniform", args=(-1, 2)).pvalue > 1e-3
    assert np.abs(R.mean(0)).max() < 0.05


# --- CTF -----------------------------------------------------------------------

def test_wavelength_known_values():
    assert ctf.electron_wavelength(300) == pytest.approx(0.019687, abs=2e-6)
    assert ctf.electron_wavelength(200) == pytest.approx(0.025079, abs=2e-6)


def test_ctf_zeros_and_dc():
    df, lam = 20000.0, ctf.electron_wavelength(300)
    # w = 0, Cs = 0: ctf = sin(-pi df lam s^2), zero at s^2 = k / (df lam)
    s = np.sqrt(np.arange(1, 6) / (df * lam))
    freqs = np.stack([s, np.zeros_like(s)], -1)
    assert np.allclose(ctf.compute_ctf(freqs, df, df, 0, 300, 0, 0), 0, atol=1e-9)
    # between zeros it reaches -1 (first extremum at s^2 = 0.5 / (df lam))
    s1 = np.sqrt(0.5 / (df * lam))
    assert ctf.compute_ctf(np.array([[s1, 0]]), df, df, 0, 300, 0, 0)[0] == pytest.approx(-1)
    # at DC the CTF is -w; a 90 degree phase plate gives sqrt(1 - w^2) sin(-pi/2) = -sqrt(1-w^2)
    assert ctf.compute_ctf(np.zeros((1, 2)), df, df, 0, 300, 2.7, 0.1)[0] == pytest.approx(-0.1)
    assert ctf.compute_ctf(np.zeros((1, 2)), df, df, 0, 300, 2.7, 0.0, 90)[0] == pytest.approx(-1)


def test_ctf_hand_computed_value():
    # s = 0.1 /A along x, dfU = 15000, dfV = 10000, dfang = 0: df = dfU
    lam = 12.2643247 / np.sqrt(300e3 + 0.978466e-6 * 300e3**2)
    s2 = 0.01
    gamma = 2 * np.pi * (-0.5 * 15000 * lam * s2 + 0.25 * 2.7e7 * lam**3 * s2**2)
    expected = np.sqrt(1 - 0.07**2) * np.sin(gamma) - 0.07 * np.cos(gamma)
    got = ctf.compute_ctf(np.array([[0.1, 0.0]]), 15000, 10000, 0, 300, 2.7, 0.07)[0]
    assert got == pytest.approx(expected, rel=1e-12)
    # astigmatism: along the dfang direction df = dfU, perpendicular df = dfV
    along = ctf.compute_ctf(np.array([[0.0, 0.1]]), 15000, 10000, 90, 300, 2.7, 0.07)[0]
    assert along == pytest.approx(expected, rel=1e-9)


def test_ctf_bfactor_envelope_and_torch_numpy_agree():
    f = lattice.frequency_grid(16).reshape(-1, 2)
    p = np.array([[16, 2.0, 12000, 11000, 40, 300, 2.7, 0.1, 10]])
    a = ctf.ctf_from_params(f, p)
    b = ctf.ctf_from_params(torch.tensor(f), torch.tensor(p)).numpy()
    assert np.allclose(a, b)
    s2 = ((f / 2.0) ** 2).sum(-1)
    c = ctf.ctf_from_params(f, p, bfactor=100.0)
    assert np.allclose(c, a * np.exp(-100 / 4 * s2))


# --- slices, projection, shifts ----------------------------------------------------

def test_identity_pose_projects_along_z():
    vol = blob_volume()
    img = projection.project_volume(vol, np.eye(3)[None])[0]
    assert np.allclose(img, vol.sum(0), atol=1e-4 * vol.sum(0).max())


def test_tilt_90_projects_along_x():
    vol = blob_volume()
    R = geometry.euler_relion_to_matrix(np.array([[0.0, 90.0, 0.0]]))
    img = projection.project_volume(vol, R)[0]
    # image(x, y) = sum_X vol(X, y, Z=-x): index x -> D - x (mod D)
    s = vol.sum(2)  # [Z, Y]
    expected = np.roll(np.flip(s.T, axis=1), 1, axis=1)
    assert np.allclose(img, expected, atol=1e-4 * s.max())


def test_gaussian_projects_to_gaussian_at_rotated_centre():
    D, sigma, c = 48, 2.5, np.array([5.0, -3.0, 2.0])
    vol = gaussian_volume(D, c, sigma).astype(np.float32)
    R = geometry.random_rotations(4, seed=1)
    imgs = projection.project_volume(vol, R)
    y, x = np.meshgrid(np.arange(D) - D // 2, np.arange(D) - D // 2, indexing="ij")
    for img, r in zip(imgs, R):
        cx, cy, _ = r @ c
        expected = np.sqrt(2 * np.pi) * sigma * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        assert np.abs(img - expected).max() < 0.02 * expected.max()


def test_fourier_slice_matches_real_space_projection_of_rotated_volume():
    from scipy.ndimage import affine_transform

    D = 32
    vol = blob_volume(D, seed=4).astype(np.float64)
    R = geometry.euler_relion_to_matrix(np.array([[20.0, 35.0, -50.0]]))[0]
    # rotated(r) = vol(R^T r); in [z, y, x] index order with the centre at D//2
    P = np.eye(3)[::-1]
    M = P @ R.T @ P
    c = np.full(3, D // 2)
    rotated = affine_transform(vol, M, offset=c - M @ c, order=3)
    img = projection.project_volume(vol.astype(np.float32), R[None])[0]
    ref = rotated.sum(0)
    assert np.corrcoef(img.ravel(), ref.ravel())[0, 1] > 0.999


def test_insert_is_adjoint_of_extract():
    rng = np.random.default_rng(0)
    P = 20
    vol = torch.tensor(rng.normal(size=(P,) * 3) + 1j * rng.normal(size=(P,) * 3))
    coords, _ = lattice.image_lattice(10)
    rots = torch.tensor(geometry.random_rotations(3, seed=0), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=(3, len(coords))) + 1j * rng.normal(size=(3, len(coords))))
    lhs = (projection.extract_slices(vol, rots, coords, 2.0) * y.conj()).sum()
    back = torch.zeros_like(vol)
    projection.insert_slices(back, y, rots, coords, 2.0)
    rhs = (vol * back.conj()).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-10)


def test_phase_shift_moves_image_by_whole_pixels():
    D = 16
    img = np.random.default_rng(0).normal(size=(1, D, D))
    coords, flat = lattice.image_lattice(D, radius=D)  # every pixel
    ft = torch.tensor(fourier.fft_center(img).reshape(1, -1)[:, flat.numpy()])
    moved = projection.phase_shift(ft, coords, torch.tensor([[2.0, -3.0]], dtype=torch.float64), D)
    out = fourier.ifft_center(projection.scatter_to_image(moved, flat, D)).real.numpy()
    assert np.allclose(out[0], np.roll(img[0], shift=(-3, 2), axis=(0, 1)))


def test_form_images_translation_convention():
    """trans is the offset that centres the particle: the image is moved by -trans*D."""
    D = 32
    vol = gaussian_volume(D, (0, 0, 0), 2.0).astype(np.float32)
    trans = np.array([[3.0 / D, -2.0 / D]], dtype=np.float32)
    img = projection.project_volume(vol, np.eye(3)[None], trans=trans)[0]
    peak = np.unravel_index(np.argmax(img), img.shape)
    assert peak == (D // 2 + 2, D // 2 - 3)  # [y, x]: moved by (-3, +2)
