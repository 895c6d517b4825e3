"""Memory: a multi-GB sparse stack and a 10^6-row .star open in bounded memory; the training
data path (a read, the pose/CTF checks, 10^6 particles) holds no more than its batch and metadata.

Each RSS measurement runs in a fresh subprocess so that the peak resident memory
(``VmHWM``, else ``ru_maxrss``) reflects only the reading under test; the others
trace the allocations of one call (``tracemalloc``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import mrcfile
import numpy as np
import pytest

N_IMAGES = 250_000  # 250,000 x 64 x 64 float32 = 4.1 GB
D = 64


def _sparse_stack(path) -> None:
    if shutil.disk_usage(path.parent).free < 64 * 1024**2:
        pytest.skip("not enough disk for the test stack's header")
    with mrcfile.new_mmap(path, shape=(N_IMAGES, D, D), mrc_mode=2, overwrite=True) as mrc:
        mrc.set_image_stack()
        mrc.voxel_size = 1.5
    size = os.path.getsize(path)
    assert size == 1024 + N_IMAGES * D * D * 4
    if os.stat(path).st_blocks * 512 > 64 * 1024**2:
        os.remove(path)
        pytest.skip("filesystem does not support sparse files")
    # a recognisable image at the end
    with open(path, "r+b") as f:
        f.seek(1024 + (N_IMAGES - 1) * D * D * 4)
        f.write(np.full((D, D), 7.0, np.float32).tobytes())


def _run(code: str, timeout: float = 60) -> dict:
    prelude = textwrap.dedent(
        """
        import json, resource, sys, time
        import numpy as np
        from cryolatent.io import read_particles
        def rss_mb():
            # Peak RSS. VmHWM belongs to this process's own address space; ru_maxrss
            # can carry over the parent's (larger) peak across fork + exec on Linux.
            try:
                with open("/proc/self/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            return int(line.split()[1]) / 1024
            except OSError:
                pass
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        base = rss_mb()
        t0 = time.perf_counter()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.mrcs"
    _sparse_stack(path)
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.slow
def test_multi_gb_stack_reads_in_bounded_memory(big_stack):
    res = _run(
        f"""
        stack = read_particles({str(big_stack)!r})
        n = len(stack)
        mid = n // 2
        a = stack.images(np.arange(0, 1000))
        b = stack.images(np.arange(mid, mid + 1000))
        c = stack.images(np.arange(n - 1000, n))
        r = stack.images(np.random.default_rng(0).integers(0, n, 2000))
        last = float(c[-1].mean())
        for k, (idx, imgs) in enumerate(stack.iter_chunks(1000, indices=np.arange(mid, n))):
            if k == 5:
                break
        stack.close()
        print(json.dumps(dict(ru_maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n=n, D=stack.D, apix=stack.apix, last=last,
                              rss=rss_mb() - base, secs=time.perf_counter() - t0)))
        """
    )
    print(res)
    assert res["n"] == N_IMAGES and res["D"] == D and res["apix"] == pytest.approx(1.5)
    assert res["last"] == 7.0
    assert res["rss"] < 300, f"peak RSS grew by {res['rss']:.0f} MB"


@pytest.mark.slow
def test_million_row_star_opens_in_bounded_memory(big_stack, tmp_path):
    n_rows = 1_000_000
    star = tmp_path / "million.star"
    idx = (np.arange(n_rows) * 7919) % N_IMAGES + 1
    with open(star, "w") as f:
        f.write(
            "\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n_rlnImageSize #3\n"
            f"1 1.5 {D}\n\n\ndata_particles\n\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n"
        )
        name = os.path.relpath(big_stack, tmp_path)
        f.write("".join(f"{i}@{name} 1\n" for i in idx.tolist()))
    res = _run(
        f"""
        stack = read_particles({str(star)!r})
        opened = time.perf_counter() - t0
        imgs = stack.images([0, len(stack) - 1])
        sub = stack.subset(np.arange(0, len(stack), 3))
        print(json.dumps(dict(n=len(stack), files=len(stack.files), opened=opened,
                              first=int(stack.file_index[0]), last=int(stack.file_index[-1]),
                              sub=len(sub), rss=rss_mb() - base)))
        """
    )
    print(res)
    assert res["n"] == n_rows and res["files"] == 1 and res["sub"] == (n_rows + 2) // 3
    assert res["first"] == idx[0] - 1 and res["last"] == idx[-1] - 1
    assert res["rss"] < 1024, f"peak RSS grew by {res['rss']:.0f} MB"


# ---------------------------------------------------------------------------
# the training data path: what one read holds, validation temporaries, 10^6 particles


def _traced(fn):
    """``(result, peak bytes allocated while calling fn)``."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def test_a_read_holds_only_its_images(tmp_path, monkeypatch):
    """Sorted distinct positions (training batches, chunks) are read straight into the result,
    one positional read per run of consecutive images."""
    import cryolatent.io.particles as particles
    from cryolatent.io import read_particles, write_mrcs

    images = np.random.default_rng(0).normal(size=(300, 32, 32)).astype(np.float32)
    write_mrcs(tmp_path / "s.mrcs", images)
    stack = read_particles(tmp_path / "s.mrcs")
    reads = []
    real = particles._pread_into
    monkeypatch.setattr(particles, "_pread_into",
                        lambda fd, buf, off, path: (reads.append(off), real(fd, buf, off, path)))

    got, peak = _traced(lambda: stack.images(np.arange(300)))
    np.testing.assert_array_equal(got, images)
    assert peak < 1.5 * images.nbytes, f"peak {peak / images.nbytes:.2f} x the images read"
    assert len(reads) == 2  # runs are capped at 256 images

    reads.clear()
    batch = np.array([3, 17, 18, 19, 250, 299])
    np.testing.assert_array_equal(stack.images(batch), images[batch])
    assert len(reads) == 4


def test_reads_in_any_order_from_any_file(tmp_path):
    from cryolatent.io import read_particles

    try:
        from io_helpers import make_stack, write_text
    except ImportError:  # tests collected as a package
        from tests.io_helpers import make_stack, write_text

    a = make_stack(tmp_path / "a.mrcs", n=6, D=8, seed=1)
    b = make_stack(tmp_path / "b.mrcs", n=5, D=8, seed=2, dtype=np.int16)  # converted on reading
    write_text(tmp_path / "list.txt", "a.mrcs\nb.mrcs\n")
    stack = read_particles(tmp_path / "list.txt")
    both = np.concatenate([a, b.astype(np.float32)])
    for idx in ([10, 0, 7, 7, 3], [1, 1], [6, 7, 8], [2, 3, 4], [], slice(None)):
        np.testing.assert_array_equal(stack.images(idx), both[idx])
    only_b = read_particles(tmp_path / "b.mrcs")
    np.testing.assert_array_equal(only_b.images([0, 2, 4]), b[[0, 2, 4]].astype(np.float32))


def _pose_files(folder, n, D=8, bad_row=None):
    from cryolatent.io import write_ctf_pkl, write_poses_pkl

    rots = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy()
    if bad_row is not None:
        rots[bad_row, 0, 0] = 2.0
    write_poses_pkl(folder / "poses.pkl", rots, np.zeros((n, 2), np.float32))
    row = np.array([D, 2.0, 15000, 15000, 0, 300, 2.7, 0.1, 0], np.float32)
    write_ctf_pkl(folder / "ctf.pkl", np.broadcast_to(row, (n, 9)))
    with mrcfile.new_mmap(folder / "p.mrcs", shape=(n, D, D), mrc_mode=2, overwrite=True) as mrc:
        mrc.set_image_stack()
    return folder / "p.mrcs", folder / "poses.pkl", folder / "ctf.pkl"


def test_checking_poses_and_ctf_needs_little_memory_beyond_them(tmp_path):
    """The float64 temporaries of the pose and CTF checks are bounded, not 7x the poses."""
    from cryolatent.errors import InputError
    from cryolatent.io import load_dataset

    n = 200_000
    files = _pose_files(tmp_path, n)
    stack, peak = _traced(lambda: load_dataset(*files))
    held = sum(a.nbytes for a in (*stack.poses, stack.ctf, stack.file_ids, stack.file_index, stack.orig_index))
    assert peak < 2 * held, f"peak {peak / 2**20:.0f} MiB to hold {held / 2**20:.0f} MiB"

    (tmp_path / "bad").mkdir()
    files = _pose_files(tmp_path / "bad", n, bad_row=70_000)  # in a later chunk: named by its row in the file
    with pytest.raises(InputError, match="rotation of particle 70000 is not orthonormal"):
        load_dataset(*files)


@pytest.mark.slow
def test_training_data_path_at_a_million_particles(tmp_path):
    """Opening 10^6 particles (sparse 16 x 16 stack) and drawing shuffled batches: memory is the
    per-particle metadata (poses, CTF, locations: about 150 MB), nothing of size N x D x D."""
    if shutil.disk_usage(tmp_path).free < 512 * 1024**2:
        pytest.skip("not enough disk for the pose and CTF files")
    files = _pose_files(tmp_path, 1_000_000, D=16)
    res = _run(
        f"""
        from cryolatent.training.data import EpochBatchSampler, ParticleData, Preprocessor, make_loader
        from cryolatent.io import load_dataset
        stack = load_dataset(*{[str(f) for f in files]!r})
        opened = rss_mb() - base
        data = ParticleData(stack, Preprocessor(stack.D))
        out = {{}}
        for block in (1, 64):
            sampler = EpochBatchSampler(len(stack), 8, seed=0, block=block)
            for k, batch in enumerate(make_loader(data, sampler)):
                if k == 200:
                    break
            out[block] = k
        print(json.dumps(dict(n=len(stack), opened=opened, rss=rss_mb() - base, batches=out,
                              secs=time.perf_counter() - t0)))
        """,
        timeout=120,
    )
    print(res)
    assert res["n"] == 1_000_000 and res["batches"] == {"1": 200, "64": 200}
    assert res["rss"] < 250, f"peak RSS grew by {res['rss']:.0f} MB"
