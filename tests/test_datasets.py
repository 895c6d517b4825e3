"""The dataset manifest and fetching (downloads from a local HTTP server on 127.0.0.1)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import re
import sys
import threading
import types
from pathlib import Path

import pytest

from cryolatent import cli
from cryolatent.datasets import manifest as datasets
from cryolatent.errors import InputError

PAYLOAD = b"cryolatent test payload\n" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()
WRONG = "0" * 64


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Serve a folder holding ``data.bin`` (= PAYLOAD) on 127.0.0.1; yield the base URL."""
    root = tmp_path_factory.mktemp("www")
    (root / "data.bin").write_bytes(PAYLOAD)
    (root / "other.bin").write_bytes(PAYLOAD[::-1])
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- URL downloads ------------------------------------------------------------------


def test_fetch_url_with_right_sha256(server, tmp_path):
    dest = tmp_path / "got.bin"
    out = datasets.fetch(f"{server}/data.bin", dest, sha256=SHA, progress=False)
    assert out == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == ["got.bin"]  # no temporary folders left


def test_fetch_url_accepts_prefixed_hash_and_folder_dest(server, tmp_path):
    out = datasets.fetch(f"{server}/data.bin", tmp_path, sha256=f"sha256:{SHA}", progress=False)
    assert out == tmp_path / "data.bin"
    assert out.read_bytes() == PAYLOAD


def test_fetch_url_wrong_sha256_leaves_nothing(server, tmp_path):
    dest = tmp_path / "got.bin"
    with pytest.raises(InputError) as err:
        datasets.fetch(f"{server}/data.bin", dest, sha256=WRONG, progress=False)
    msg = str(err.value)
    assert "got.bin" in msg and WRONG in msg and SHA in msg
    assert "\n" not in msg
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_fetch_url_refuses_overwrite_without_force(server, tmp_path):
    dest = tmp_path / "got.bin"
    dest.write_bytes(b"old")
    with pytest.raises(InputError, match="exists"):
        datasets.fetch(f"{server}/data.bin", dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == b"old"
    datasets.fetch(f"{server}/data.bin", dest, sha256=SHA, force=True, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_failed_checksum_with_force_keeps_old_file(server, tmp_path):
    dest = tmp_path / "got.bin"
    dest.write_bytes(b"old")
    with pytest.raises(InputError):
        datasets.fetch(f"{server}/data.bin", dest, sha256=WRONG, force=True, progress=False)
    assert dest.read_bytes() == b"old"


def test_fetch_without_sha256_warns_unverified(server, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cryolatent.datasets"):
        out = datasets.fetch(f"{server}/data.bin", tmp_path / "x.bin", progress=False)
    assert out.read_bytes() == PAYLOAD
    assert "NOT verified" in caplog.text


def test_fetch_missing_url_is_input_error(server, tmp_path):
    with pytest.raises(InputError, match="failed"):
        datasets.fetch(f"{server}/absent.bin", tmp_path / "x.bin", progress=False)
    assert _leftovers(tmp_path) == []


def test_bad_sha256_argument(server, tmp_path):
    with pytest.raises(InputError, match="64 hexadecimal"):
        datasets.fetch(f"{server}/data.bin", tmp_path / "x.bin", sha256="abc", progress=False)


def test_unknown_name(tmp_path):
    with pytest.raises(InputError, match="unknown dataset"):
        datasets.fetch("no-such-dataset", tmp_path)


def test_cli_fetch(server, tmp_path, capsys):
    dest = tmp_path / "cli.bin"
    argv = ["fetch", f"{server}/data.bin", "-o", str(dest), "--no-progress"]
    assert cli.main([*argv, "--sha256", SHA]) == 0
    assert dest.read_bytes() == PAYLOAD
    assert cli.main([*argv, "--sha256", SHA]) == 1  # exists, no --force
    assert cli.main([*argv, "--sha256", WRONG, "--force"]) == 1
    err = capsys.readouterr().err
    assert "cli.bin" in err and WRONG in err
    assert dest.read_bytes() == PAYLOAD


def test_cli_fetch_list(capsys):
    assert cli.main(["fetch", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "default", "bench", "EMPIAR-10076", "EMPIAR-10180"):
        assert name in out


# --- EMPIAR entries through a manifest pointing at the local server ----------------


def _empiar_manifest(server: str, sha_other: str | None) -> dict:
    return {
        "datasets": {
            "local-empiar": {
                "kind": "empiar",
                "accession": "EMPIAR-00000",
                "title": "test",
                "citation": "none",
                "url": server,
                "download": {
                    "files": [
                        {"name": "a.mrcs", "url": f"{server}/data.bin", "sha256": SHA},
                        {"name": "b.star", "url": f"{server}/other.bin", "sha256": sha_other},
                    ]
                },
                "preprocess": ["cryolatent downsample a.mrcs -D 64 -o a64.mrcs"],
            }
        }
    }


def test_fetch_empiar_entry(server, tmp_path, caplog):
    manifest = _empiar_manifest(server, None)
    with caplog.at_level(logging.WARNING, logger="cryolatent.datasets"):
        out = datasets.fetch("local-empiar", tmp_path / "d", manifest=manifest, progress=False)
    assert (out / "a.mrcs").read_bytes() == PAYLOAD
    assert (out / "b.star").read_bytes() == PAYLOAD[::-1]
    assert "b.star" in caplog.text and "NOT verified" in caplog.text
    # Files already there are kept, not overwritten.
    (out / "a.mrcs").write_bytes(b"keep")
    datasets.fetch("local-empiar", out, manifest=manifest, progress=False)
    assert (out / "a.mrcs").read_bytes() == b"keep"


def test_fetch_empiar_entry_bad_hash(server, tmp_path):
    manifest = _empiar_manifest(server, WRONG)
    with pytest.raises(InputError, match="b.star"):
        datasets.fetch("local-empiar", tmp_path, manifest=manifest, progress=False)
    assert _leftovers(tmp_path) == ["a.mrcs"]


# --- the manifest ----------------------------------------------------------------


def test_manifest_loads_and_lists():
    manifest = datasets.load_manifest()
    names = datasets.list_datasets()
    assert names == list(manifest["datasets"])
    assert {"tiny", "default", "bench"} <= set(names)
    assert {"EMPIAR-10076", "EMPIAR-10180", "EMPIAR-10028", "EMPIAR-10049"} <= set(names)


def test_empiar_entries_have_required_keys():
    manifest = datasets.load_manifest()
    empiar = {k: v for k, v in manifest["datasets"].items() if v["kind"] == "empiar"}
    assert len(empiar) == 4
    for name, entry in empiar.items():
        for key in ("accession", "title", "citation", "url", "download", "preprocess", "poses_ctf"):
            assert entry.get(key), (name, key)
        acc = entry["accession"]
        assert re.fullmatch(r"EMPIAR-\d{5}", acc) and name == acc
        assert entry["url"] == f"https://www.ebi.ac.uk/empiar/{acc}/"
        d = entry["download"]
        for key in ("files", "box", "apix", "particles", "size_gb", "note", "how"):
            assert key in d, (name, key)
        assert isinstance(d["box"], int) and d["box"] % 2 == 0
        for f in d["files"]:
            assert f["name"] and f["url"].startswith("https://")
            # No invented checksums: each is either null or 64 hex digits.
            assert f["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
        assert all(step.startswith("cryolatent ") for step in entry["preprocess"])
        assert any(" downsample " in step for step in entry["preprocess"])


def test_simulated_entries_name_a_generator():
    manifest = datasets.load_manifest()
    sims = {k: v for k, v in manifest["datasets"].items() if v["kind"] == "simulated"}
    assert set(sims) == {"tiny", "default", "bench"}
    for name, entry in sims.items():
        assert re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", entry["generator"]), name
        p = entry["parameters"]
        for key in ("n_particles", "box", "apix", "snr", "seed"):
            assert key in p, (name, key)
        assert p["seed"] == entry["seed"]
    assert sims["tiny"]["parameters"]["n_particles"] < sims["default"]["parameters"]["n_particles"]


def test_simulated_generators_importable():
    manifest = datasets.load_manifest()
    for entry in manifest["datasets"].values():
        if entry["kind"] == "simulated":
            assert callable(datasets.resolve_generator(entry["generator"]))


def test_make_simulated_calls_generator(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("fake_simulator_mod")

    def simulate(outdir, force=False, **kw):
        calls.append((outdir, force, kw))
        return outdir

    fake.simulate = simulate
    monkeypatch.setitem(sys.modules, "fake_simulator_mod", fake)
    manifest = {
        "datasets": {
            "fake": {
                "kind": "simulated",
                "description": "x",
                "generator": "fake_simulator_mod.simulate",
                "seed": 7,
                "parameters": {"n_particles": 3, "box": 8},
            }
        }
    }
    out = datasets.fetch("fake", tmp_path / "sim", manifest=manifest)
    assert out == tmp_path / "sim"
    assert calls == [(tmp_path / "sim", False, {"n_particles": 3, "box": 8, "seed": 7})]


def test_bad_manifests(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("datasets:\n  x:\n    kind: empiar\n    title: t\n")
    with pytest.raises(InputError, match="m.yaml.*lacks"):
        datasets.load_manifest(bad)
    with pytest.raises(InputError, match="not found"):
        datasets.load_manifest(tmp_path / "absent.yaml")
    bad.write_text("datasets: [1, 2\n")
    with pytest.raises(InputError, match="YAML"):
        datasets.load_manifest(bad)


def test_make_simulated_tiny(tmp_path):
    out = datasets.fetch("tiny", tmp_path / "tiny", progress=False)
    particles = sorted(out.glob("*.mrcs"))
    assert particles, sorted(p.name for p in out.iterdir())
    import mrcfile

    with mrcfile.mmap(particles[0], permissive=True) as m:
        assert m.data.shape == (200, 32, 32)
