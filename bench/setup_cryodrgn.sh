#!/usr/bin/env bash
# Create an isolated virtualenv with the reference peer cryoDRGN 4.3.1 in
# bench/.venv-cryodrgn (git-ignored).  cryoDRGN is only ever run as an
# external program from this venv; it is never imported by cryolatent.
#
# Idempotent: re-running it reuses the venv and only installs what is missing.
#
# Usage:  bash bench/setup_cryodrgn.sh            (from anywhere)
#   env:  PYTHON=python3.11  CRYODRGN_VERSION=4.3.1  TORCH_VERSION=2.13.0
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${HERE}/.venv-cryodrgn"
PYTHON="${PYTHON:-python3}"
CRYODRGN_VERSION="${CRYODRGN_VERSION:-4.3.1}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ ! -x "${VENV}/bin/python" ]; then
    echo "[setup_cryodrgn] creating ${VENV}"
    "${PYTHON}" -m venv "${VENV}"
fi
PIP=("${VENV}/bin/python" -m pip --disable-pip-version-check)

have() {  # have PACKAGE VERSION -> 0 if that exact version is installed
    "${VENV}/bin/python" - "$1" "$2" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    v = version(sys.argv[1])
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if v.split("+")[0] == sys.argv[2] else 1)
EOF
}

# 1) torch first, so that cryoDRGN's "torch>=2" requirement is already
#    satisfied by the local CPU build and pip never fetches a CUDA build.
if ! have torch "${TORCH_VERSION}"; then
    echo "[setup_cryodrgn] installing torch==${TORCH_VERSION} (CPU build from local wheels)"
    "${PIP[@]}" install "torch==${TORCH_VERSION}"
fi

# 2) cryoDRGN itself.  4.3.1 declares torch>=2 (no upper pin), so a normal
#    install keeps the CPU torch; the constraint below makes that explicit.
if ! have cryodrgn "${CRYODRGN_VERSION}"; then
    echo "[setup_cryodrgn] installing cryodrgn==${CRYODRGN_VERSION}"
    CONSTRAINT="$(mktemp)"
    trap 'rm -f "${CONSTRAINT}"' EXIT
    echo "torch==${TORCH_VERSION}" > "${CONSTRAINT}"
    PIP_CONSTRAINT="${CONSTRAINT}" "${PIP[@]}" install "cryodrgn==${CRYODRGN_VERSION}"
fi

# 3) sanity checks
"${VENV}/bin/python" -c "import torch, cryodrgn; print('[setup_cryodrgn] torch', torch.__version__, '| cuda:', torch.cuda.is_available(), '| cryodrgn', cryodrgn.__version__)"
"${VENV}/bin/cryodrgn" --help > /dev/null
"${VENV}/bin/cryodrgn" train_vae --help > /dev/null
"${VENV}/bin/cryodrgn" backproject_voxel --help > /dev/null
"${VENV}/bin/cryodrgn" eval_vol --help > /dev/null
echo "[setup_cryodrgn] OK: ${VENV}/bin/cryodrgn"
