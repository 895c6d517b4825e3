"""Fourier-crop downsampling: accuracy on band-limited images, streaming, files, CLI."""

from __future__ import annotations

import mrcfile
import numpy as np
import pytest

from cryolatent import cli
from cryolatent import io
from cryolatent.io import downsample as downsample_module
from cryolatent.io.downsample import downsample_stack, fourier_crop
from cryolatent.errors import InputError
from cryolatent.forward.fourier import fft_center


def _gaussian(D: int, apix: float, sigma: float, centre=(0.0, 0.0), offset=0.0) -> np.ndarray:
    """A Gaussian blob (sigma and centre in A) sampled on a D x D grid with origin D//2."""
    x = (np.arange(D) - D // 2) * apix
    yy, xx = np.meshgrid(x, x, indexing="ij")
    r2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    return (np.exp(-r2 / (2 * sigma**2)) + offset).astype(np.float32)


# --- the pure function ------------------------------------------------------------


def test_gaussian_downsampled_equals_gaussian_rendered_coarser():
    # sigma = 5 px at D=64 (2.5 px at D=32): band-limited and well inside the box.
    centre = (1.3, -2.1)
    big = _gaussian(64, 1.0, 5.0, centre)
    small = _gaussian(32, 2.0, 5.0, centre)
    out = fourier_crop(big, 32)
    assert out.shape == (32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out, small, atol=2e-6)


def test_mean_of_smooth_image_is_preserved():
    img = _gaussian(64, 1.0, 6.0, offset=0.25)
    for D_new in (48, 32, 16):
        out = fourier_crop(img, D_new)
        assert out.mean() == pytest.approx(img.mean(), rel=1e-5)
    const = np.full((2, 64, 64), 3.5, np.float32)
    np.testing.assert_allclose(fourier_crop(const, 32), 3.5, rtol=1e-6)


def test_low_frequencies_are_kept_exactly():
    rng = np.random.default_rng(0)
    img = rng.normal(size=(3, 64, 64)).astype(np.float32)
    D, D_new = 64, 32
    out = fourier_crop(img, D_new)
    f_in = fft_center(img.astype(np.float64))
    lo = D // 2 - D_new // 2
    crop = f_in[:, lo:lo + D_new, lo:lo + D_new]
    f_out = fft_center(out.astype(np.float64)) * (D / D_new) ** 2
    # All frequencies strictly below the new Nyquist (row/column 0 of the crop)
    # are the original ones; the Nyquist row/column are made Hermitian.
    np.testing.assert_allclose(f_out[:, 1:, 1:], crop[:, 1:, 1:], atol=1e-3)
    # Parseval: the low-frequency energy is that of the original.
    e_in = np.sum(np.abs(crop[:, 1:, 1:]) ** 2)
    e_out = np.sum(np.abs(f_out[:, 1:, 1:]) ** 2)
    assert e_out == pytest.approx(e_in, rel=1e-5)


def test_identity_and_shapes():
    img = _gaussian(32, 1.0, 3.0)
    np.testing.assert_allclose(fourier_crop(img, 32), img, atol=1e-6)
    stack = np.stack([img, 2 * img])
    out = fourier_crop(stack, 16)
    assert out.shape == (2, 16, 16)
    np.testing.assert_allclose(out[1], 2 * out[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("D_new", [31, 0, -2, 66])
def test_bad_sizes(D_new):
    with pytest.raises(InputError):
        fourier_crop(np.zeros((64, 64), np.float32), D_new)


# --- streaming --------------------------------------------------------------------


class _FakeStack:
    """A ParticleStack stand-in that only supports streaming and records chunks."""

    def __init__(self, n: int, D: int, apix: float):
        self.n, self.D, self.apix = n, D, apix
        self.calls: list[int] = []
        self.served: list[int] = []
        rng = np.random.default_rng(1)
        self._data = rng.normal(size=(n, D, D)).astype(np.float32)

    def __len__(self) -> int:
        return self.n

    def iter_chunks(self, chunk_size: int):
        self.calls.append(chunk_size)
        for i in range(0, self.n, chunk_size):
            idx = np.arange(i, min(i + chunk_size, self.n))
            self.served.append(len(idx))
            yield idx, self._data[idx]

    def __getitem__(self, item):  # pragma: no cover - must not be used
        raise AssertionError("downsample_stack must stream with iter_chunks")


def test_stack_is_streamed_in_chunks(tmp_path, monkeypatch):
    stack = _FakeStack(23, 32, 1.5)
    seen = []
    real_write = io.write_mrcs

    def spy(path, chunks, **kw):
        assert not isinstance(chunks, np.ndarray)

        def watch():
            for c in chunks:
                # Lazy: only the chunk being written has been read so far.
                assert sum(stack.served) == sum(len(s) for s in seen) + len(c)
                seen.append(c)
                yield c

        return real_write(path, watch(), **kw)

    monkeypatch.setattr(downsample_module, "write_mrcs", spy)
    out = downsample_stack(stack, 16, tmp_path / "o.mrcs", chunk_size=7, progress=False)
    assert stack.calls == [7]
    assert [len(c) for c in seen] == [7, 7, 7, 2]
    with mrcfile.open(out) as m:
        assert m.data.shape == (23, 16, 16)
        assert float(m.voxel_size.x) == pytest.approx(3.0)
        np.testing.assert_allclose(m.data, fourier_crop(stack._data, 16), atol=1e-6)


# --- files and CLI ----------------------------------------------------------------


@pytest.fixture
def stack_file(tmp_path):
    """A 25-image .mrcs of Gaussians, D=32, 1.5 A/px."""
    rng = np.random.default_rng(2)
    imgs = np.stack(
        [_gaussian(32, 1.5, 6.0, tuple(rng.uniform(-4, 4, 2))) for _ in range(25)]
    )
    path = tmp_path / "in.mrcs"
    with mrcfile.new(path) as m:
        m.set_data(imgs)
        m.set_image_stack()
        m.voxel_size = 1.5
    return path, imgs


def test_file_round_trip_doubles_apix(stack_file, tmp_path):
    path, imgs = stack_file
    out = downsample_stack(path, 16, tmp_path / "out.mrcs", chunk_size=10, progress=False)
    with mrcfile.open(out) as m:
        assert m.is_image_stack()
        assert float(m.voxel_size.x) == pytest.approx(3.0)
        data = np.array(m.data)
    assert data.shape == (25, 16, 16)
    # The same images as cropping what read_particles returns (whatever its sign convention).
    with io.read_particles(path) as stack:
        full = np.concatenate([c for _, c in stack.iter_chunks(100)])
    np.testing.assert_allclose(data, fourier_crop(full, 16), atol=1e-6)
    np.testing.assert_allclose(np.abs(data), np.abs(fourier_crop(imgs, 16)), atol=1e-6)
    with io.read_particles(out) as back:
        assert back.D == 16 and len(back) == 25 and back.apix == pytest.approx(3.0)


def test_refuses_overwrite_and_bad_size(stack_file, tmp_path):
    path, _ = stack_file
    out = tmp_path / "out.mrcs"
    out.write_bytes(b"old")
    with pytest.raises(InputError, match="exists"):
        downsample_stack(path, 16, out, progress=False)
    assert out.read_bytes() == b"old"
    with pytest.raises(InputError, match="larger"):
        downsample_stack(path, 64, tmp_path / "big.mrcs", progress=False)
    assert not (tmp_path / "big.mrcs").exists()
    downsample_stack(path, 16, out, force=True, progress=False)
    with mrcfile.open(out) as m:
        assert m.data.shape == (25, 16, 16)


def test_cli(stack_file, tmp_path, capsys):
    path, _ = stack_file
    out = tmp_path / "cli.mrcs"
    argv = ["downsample", str(path), "-D", "16", "-o", str(out), "--chunk-size", "8", "--no-progress"]
    assert cli.main(argv) == 0
    with mrcfile.open(out) as m:
        assert m.data.shape == (25, 16, 16)
        assert float(m.voxel_size.x) == pytest.approx(3.0)
    assert cli.main(argv) == 1  # exists, no --force
    assert "exists" in capsys.readouterr().err
    assert cli.main([*argv, "--force"]) == 0
    assert cli.main([*argv[:3], "15", *argv[4:], "--force"]) == 1
    assert "even" in capsys.readouterr().err


def test_cli_txt_list_of_stacks(stack_file, tmp_path):
    path, imgs = stack_file
    listing = tmp_path / "stacks.txt"
    listing.write_text(f"{path.name}\n{path.name}\n")
    out = tmp_path / "txt.mrcs"
    assert cli.main(["downsample", str(listing), "-D", "16", "-o", str(out), "--no-progress"]) == 0
    with mrcfile.open(out) as m:
        assert m.data.shape == (50, 16, 16)
        np.testing.assert_allclose(m.data[25:], m.data[:25])
