"""Memory: a multi-GB sparse stack and a 10^6-row .star open in bounded memory.

Each measurement runs in a fresh subprocess so that the peak resident memory
(``VmHWM``, else ``ru_maxrss``) reflects only the reading under test.
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
