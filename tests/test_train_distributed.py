from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from cryolatent.training.data import ArrayStack

from _nn_helpers import make_blob_dataset, tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, outdir: str, stack) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from cryolatent.training.loop import train

    run = train(tiny_config("memory", epochs=2), outdir, stack=stack, progress=False)
    torch.save(run.model.state_dict(), os.path.join(os.path.dirname(outdir), f"rank{rank}.pt"))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ddp_two_processes_gloo(tmp_path):
    images, rots, trans, ctf, _ = make_blob_dataset(36, 16, seed=4)
    stack = ArrayStack(images, (rots, trans), ctf)
    out = str(tmp_path / "out")
    mp.spawn(_worker, args=(2, _free_port(), out, stack), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert np.load(tmp_path / "out" / "z.npy").shape == (36, 2)
    log = (tmp_path / "out" / "train_log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs, written by rank 0 only
