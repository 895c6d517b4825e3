"""The dataset manifest (``data_manifest.yaml``) and fetching data: URLs, EMPIAR, simulations.

Downloads go through :func:`pooch.retrieve` into a private temporary folder
beside the destination and are renamed onto it only once complete and (when a
sha256 is known) verified, so a failed or corrupt download never lands at the
destination.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlparse

import yaml

from cryolatent.errors import InputError
from cryolatent.outputs import check_folder, check_writable, naming, new_folders

log = logging.getLogger(__name__)

#: The manifest at the top of the repository (an editable install, a checkout).
MANIFEST_PATH = Path(__file__).resolve().parents[2] / "data_manifest.yaml"
#: Where a wheel installs the same file (``[tool.setuptools.data-files]``).
INSTALLED_MANIFEST_PATH = Path(sys.prefix) / "share" / "cryolatent" / "data_manifest.yaml"


def default_manifest_path() -> Path:
    """The repository's manifest, or the installed copy when running from a wheel."""
    return MANIFEST_PATH if MANIFEST_PATH.is_file() else INSTALLED_MANIFEST_PATH

KINDS = ("simulated", "empiar")
REQUIRED_KEYS = {
    "simulated": ("kind", "description", "generator", "parameters", "seed"),
    "empiar": (
        "kind", "accession", "title", "citation", "url", "download", "preprocess",
    ),
}
_URL_SCHEMES = ("http", "https", "ftp")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def load_manifest(path: str | os.PathLike | None = None) -> dict:
    """Read and check a dataset manifest.

    Parameters
    ----------
    path
        A manifest YAML file; default: the repository's ``data_manifest.yaml``.

    Returns
    -------
    dict
        The parsed document; ``manifest["datasets"]`` maps names to entries.
    """
    path = default_manifest_path() if path is None else Path(path)
    if not path.is_file():
        raise InputError(
            "dataset manifest not found (it lives at the top of the cryolatent "
            "repository; pass an explicit manifest path)",
            path,
        )
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", path) from None
    _check_manifest(doc, path)
    return doc


def _check_manifest(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), dict):
        raise InputError("a manifest needs a top-level 'datasets:' mapping", path)
    for name, entry in doc["datasets"].items():
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise InputError(f"dataset {name!r}: 'kind' must be one of {KINDS}", path)
        missing = [k for k in REQUIRED_KEYS[entry["kind"]] if k not in entry]
        if missing:
            raise InputError(f"dataset {name!r} lacks {', '.join(missing)}", path)
        if entry["kind"] == "simulated":
            gen = entry["generator"]
            if not isinstance(gen, str) or "." not in gen:
                raise InputError(
                    f"dataset {name!r}: generator must be 'module.function'", path
                )
        else:
            for f in entry["download"].get("files", []):
                if f.get("sha256") is not None and not _HEX64.match(str(f["sha256"])):
                    raise InputError(
                        f"dataset {name!r}: sha256 of {f.get('name')} is not 64 hex digits",
                        path,
                    )


def _resolve_manifest(manifest: Mapping | str | os.PathLike | None) -> dict:
    if manifest is None or isinstance(manifest, (str, os.PathLike)):
        return load_manifest(manifest)
    _check_manifest(manifest, Path("<manifest>"))
    return dict(manifest)


def list_datasets(manifest: Mapping | str | os.PathLike | None = None) -> list[str]:
    """Names of the datasets in the manifest, in file order."""
    return list(_resolve_manifest(manifest)["datasets"])


def dataset_info(name: str, manifest: Mapping | str | os.PathLike | None = None) -> dict:
    """The manifest entry of dataset ``name`` (an :class:`InputError` if unknown)."""
    datasets = _resolve_manifest(manifest)["datasets"]
    if name not in datasets:
        raise InputError(
            f"unknown dataset {name!r}; known: {', '.join(datasets)} (or give a URL)"
        )
    return datasets[name]


def summary(name: str, entry: Mapping) -> str:
    """One line describing a manifest entry (for ``cryolatent fetch --list``)."""
    if entry["kind"] == "simulated":
        p = entry["parameters"]
        what = (
            f"{p.get('n_particles')} particles, box {p.get('box')}, "
            f"SNR {p.get('snr')}: {entry['description']}"
        )
    else:
        d = entry["download"]
        n, gb = d.get("particles"), d.get("size_gb")
        what = (
            f"{entry['title']} ({'~' + str(n) if n else '?'} particles, box {d.get('box')}, "
            f"{'~' + str(gb) if gb else '?'} GB)"
        )
    return f"{name:<14} {entry['kind']:<10} {what}"


def is_url(s: str) -> bool:
    """Whether ``s`` is an http(s):// or ftp:// address."""
    return urlparse(str(s)).scheme in _URL_SCHEMES


def _normalise_sha256(sha256: str | None, where: str | None = None) -> str | None:
    if sha256 is None:
        return None
    hexd = str(sha256).lower().removeprefix("sha256:")
    if not _HEX64.match(hexd):
        raise InputError(f"--sha256 must be 64 hexadecimal digits, not {sha256!r}", where)
    return hexd


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Download one file to ``dest``, verifying its sha256 when one is given.

    Parameters
    ----------
    url
        An ``http(s)://`` or ``ftp://`` address.
    dest
        The file to write, or an existing folder to write ``basename(url)`` into.
    sha256
        Expected hex digest (``sha256:`` prefix allowed). ``None`` verifies
        nothing, and a warning says so.
    force
        Replace an existing ``dest``.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    Path
        The downloaded file.
    """
    import pooch
    import requests

    dest = Path(dest)
    if dest.is_dir():
        name = Path(urlparse(url).path).name
        if not name:
            raise InputError("cannot name the download after the URL; give a file", url)
        dest = dest / name
    expected = _normalise_sha256(sha256, str(dest))
    dest = check_writable(dest, force)
    with new_folders(dest), naming(dest):
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent))
        try:
            try:
                with _quiet_pooch():
                    got = pooch.retrieve(
                        url,
                        known_hash=None if expected is None else f"sha256:{expected}",
                        fname=dest.name,
                        path=tmpdir,
                        progressbar=progress and _have_tqdm(),
                    )
            except ValueError as exc:
                if "hash" not in str(exc):
                    raise
                m = re.search(r"but got ([0-9a-fA-F]{64})", str(exc))
                actual = m.group(1) if m else "(unknown)"
                raise InputError(
                    f"sha256 mismatch: expected {expected}, got {actual}; "
                    f"the download from {url} was discarded",
                    dest,
                ) from None
            except (requests.RequestException, OSError) as exc:
                raise InputError(f"download from {url} failed: {_reason(exc)}", dest) from None
            os.replace(got, dest)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    if expected is None:
        log.warning("%s: no sha256 known, so the download is NOT verified", dest)
    return dest


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's own "Downloading data from ..." lines (its logger is not in logging's tree)."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reason(exc: BaseException) -> str:
    """The short cause of a failed download (``Connection refused``, ``404 Client Error: Not Found ...``)."""
    text = " ".join(str(exc).split())
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip()
    return text[:200] or type(exc).__name__


def _have_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return False
    return True


def make_simulated(
    name: str,
    dest: str | os.PathLike,
    force: bool = False,
    manifest: Mapping | str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Generate the simulated dataset ``name`` into the folder ``dest``.

    Calls the entry's ``generator`` (``module.function``) as
    ``generator(dest, **parameters, force=force)``, adding ``progress=`` when
    the generator takes it.
    """
    entry = dataset_info(name, manifest)
    if entry["kind"] != "simulated":
        raise InputError(f"dataset {name!r} is {entry['kind']}, not simulated")
    generator = resolve_generator(entry["generator"])
    params = dict(entry["parameters"])
    params.setdefault("seed", entry["seed"])
    if "progress" in inspect.signature(generator).parameters:
        params["progress"] = progress
    result = generator(Path(dest), **params, force=force)
    return Path(result) if isinstance(result, (str, os.PathLike)) else Path(dest)


def resolve_generator(spec: str):
    """Import ``"package.module.function"`` and return the function."""
    module_name, _, func_name = spec.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"generator {spec!r} is not available: {exc}") from None
    return func


def fetch_empiar(
    name: str,
    dest: str | os.PathLike,
    force: bool = False,
    manifest: Mapping | str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Download the files an EMPIAR entry lists into the folder ``dest``.

    Files already in ``dest`` are kept unless ``force`` (downloads are atomic,
    so an existing file is complete). Files without a known sha256 are
    downloaded unverified (with a warning).
    The entry's ``preprocess`` list holds the commands to run next.
    """
    entry = dataset_info(name, manifest)
    if entry["kind"] != "empiar":
        raise InputError(f"dataset {name!r} is {entry['kind']}, not an EMPIAR entry")
    files = [f for f in entry["download"].get("files", []) if f.get("url")]
    if not files:
        raise InputError(
            f"{name}: the manifest lists no direct download; see {entry['url']}"
        )
    dest = check_folder(dest)
    with new_folders(dest / ".download"):  # dest and its parents, removed on failure if still empty
        for f in files:
            target = dest / f.get("name", Path(urlparse(f["url"]).path).name)
            if target.exists() and not force:
                log.warning("%s exists; kept (pass --force to download it again)", target)
                continue
            download(f["url"], target, sha256=f.get("sha256"), force=force, progress=progress)
    return dest


def fetch(
    name_or_url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    force: bool = False,
    manifest: Mapping | str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Fetch a URL, an EMPIAR manifest entry, or a simulated manifest entry.

    Parameters
    ----------
    name_or_url
        A dataset name from the manifest, or an ``http(s)://``/``ftp://`` URL.
    dest
        For a URL, the output file (or an existing folder); for a dataset
        name, the output folder.
    sha256
        Expected digest of a URL's file (manifest entries carry their own).
    force
        Replace existing outputs.
    manifest
        A manifest path or parsed mapping; default: the repository's.
    progress
        Show progress bars.

    Returns
    -------
    Path
        The downloaded file (URL) or the dataset folder (name).
    """
    if is_url(name_or_url):
        return download(name_or_url, dest, sha256=sha256, force=force, progress=progress)
    entry = dataset_info(name_or_url, manifest)
    if sha256 is not None:
        raise InputError("--sha256 applies to a URL; manifest entries carry their own")
    if entry["kind"] == "simulated":
        dest = check_folder(dest, empty=True, force=force)
        with new_folders(dest), naming(dest):  # the parents a simulation makes, removed if it fails
            return make_simulated(name_or_url, dest, force=force, manifest=manifest, progress=progress)
    return fetch_empiar(name_or_url, dest, force=force, manifest=manifest, progress=progress)
