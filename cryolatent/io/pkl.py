"""cryoDRGN pickles (poses, CTF, indices) read through a restricted unpickler."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np

from cryolatent.errors import InputError
from cryolatent.outputs import atomic_path

# Everything a pickle of numpy arrays, numpy scalars and plain containers needs.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles
    ("collections", "OrderedDict"),
}
_SAFE_BUILTINS = ("tuple", "list", "dict", "set", "frozenset", "int", "float", "complex", "bool", "str")
_SAFE_BUILTINS += ("bytes", "bytearray")
# "__builtin__" is how protocol-2 (and Python 2) pickles name builtins.
_ALLOWED |= {(mod, name) for mod in ("builtins", "__builtin__") for name in _SAFE_BUILTINS}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: str):
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str):
        allowed = (module, name) in _ALLOWED or (
            module == "numpy.dtypes" and name.endswith("DType")
        )
        if not allowed:
            raise InputError(
                f"refusing to unpickle {module}.{name}: not a numpy array/tuple/list/dict/number",
                self._path,
            )
        return super().find_class(module, name)


def load_pkl(path: str | os.PathLike):
    """Load a pickle that may hold only numpy arrays/scalars and plain containers.

    Raises
    ------
    InputError
        For any other class (nothing it names is run), or an unreadable file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("no such file", path)
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except InputError:
            raise
        except Exception as exc:  # truncated or corrupt pickle
            raise InputError(f"not a readable pickle ({type(exc).__name__}: {exc})", path) from None


def _dump(path, obj, force: bool) -> None:
    with atomic_path(path, force) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=4)


def write_poses_pkl(path: str | os.PathLike, rots: np.ndarray, trans: np.ndarray, force: bool = False) -> None:
    """Write cryoDRGN ``pose.pkl``: ``(rots (N,3,3), trans (N,2))`` float32, trans in box fractions."""
    rots = np.asarray(rots, dtype=np.float32)
    trans = np.asarray(trans, dtype=np.float32)
    if rots.ndim != 3 or rots.shape[1:] != (3, 3) or trans.shape != (len(rots), 2):
        raise ValueError(f"poses must be (N,3,3) and (N,2), got {rots.shape} and {trans.shape}")
    _dump(path, (rots, trans), force)


def write_ctf_pkl(path: str | os.PathLike, ctf: np.ndarray, force: bool = False) -> None:
    """Write cryoDRGN ``ctf.pkl``: an ``(N, 9)`` float32 array."""
    ctf = np.asarray(ctf, dtype=np.float32)
    if ctf.ndim != 2 or ctf.shape[1] != 9:
        raise ValueError(f"CTF parameters must be (N, 9), got {ctf.shape}")
    _dump(path, ctf, force)


def write_index_pkl(path: str | os.PathLike, indices, force: bool = False) -> None:
    """Write a cryoDRGN index ``.pkl``: a 1-D int64 array of 0-based particle indices."""
    ind = np.asarray(indices)
    if ind.ndim != 1 or not (ind.size == 0 or np.issubdtype(ind.dtype, np.integer)):
        raise ValueError(f"indices must be a 1-D integer array, got {ind.dtype} {ind.shape}")
    _dump(path, ind.astype(np.int64), force)


def validate_index(ind, path=None) -> np.ndarray:
    """Check an index array: 1-D, integer valued, non-negative; returns int64."""
    arr = np.asarray(ind)
    if arr.ndim != 1:
        raise InputError(f"index must be a 1-D array, got shape {arr.shape}", path)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == bool:
        raise InputError("index must hold integers, got booleans", path)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError(f"index must hold integers, got {arr.dtype}", path)
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise InputError(f"index has a negative value {int(arr.min())}", path)
    return arr


def duplicates(ind: np.ndarray) -> tuple[int, int | None]:
    """``(count, first)``: how many entries of ``ind`` repeat an earlier one, and the first such value."""
    ind = np.asarray(ind)
    if ind.size < 2:
        return 0, None
    uniq, first_pos, counts = np.unique(ind, return_index=True, return_counts=True)
    count = int(len(ind) - len(uniq))
    if not count:
        return 0, None
    repeated = first_pos[counts > 1]
    return count, int(ind[repeated.min()])


def load_index(path: str | os.PathLike) -> np.ndarray:
    """Load an ``--ind`` file (``.pkl``, ``.npy`` or ``.txt``) as int64 0-based indices."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("no such file", path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pkl":
        data = load_pkl(path)
    elif ext == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"not a readable .npy index ({str(exc).splitlines()[0]})", path) from None
    elif ext == ".txt":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy's "input contained no data": an empty index is said below
                data = np.loadtxt(path, dtype=np.float64, ndmin=1)
        except ValueError as exc:
            raise InputError(f"not a list of integers ({str(exc).splitlines()[0]})", path) from None
    else:
        raise InputError(f"unknown index file extension {ext!r}; expected .pkl, .npy or .txt", path)
    if isinstance(data, (list, tuple)):
        try:
            data = np.asarray(data)
        except ValueError:
            raise InputError("index must be a 1-D integer array", path) from None
    if not isinstance(data, np.ndarray):
        raise InputError(f"index must be a 1-D integer array, got {type(data).__name__}", path)
    return validate_index(data, path)
