#!/usr/bin/env bash
# Install what the real-browser widget test (tests/browser) and the napari test
# (tests/viewer_napari) need: Debian's chromium, an X server for napari/Qt, and the
# Python `playwright` driver (no `playwright install`: we drive /usr/bin/chromium).
#
# Usage: tests/browser/install_browser_deps.sh [VENV]   (default: .venv)
#   WITH_NAPARI=1  also pip-install napari + PyQt5 + pytest-xvfb into the venv.
# Idempotent; needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${1:-.venv}"
PY="$VENV/bin/python"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

APT_PKGS=(
  chromium fonts-liberation          # browser for Playwright (headless)
  xvfb xauth                         # X server for napari / Qt under CI
  libgl1 libegl1 libgl1-mesa-dri     # Mesa OpenGL (napari's vispy canvas)
  libxkbcommon-x11-0 libdbus-1-3 libfontconfig1 libglib2.0-0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0
  libxcb-xkb1 libxcb-cursor0
)

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PIP_PKGS=("playwright>=1.40" "pytest-xvfb>=3")
if [ "${WITH_NAPARI:-0}" = "1" ]; then
  PIP_PKGS+=("napari>=0.4.19" "pyqt5")
fi
"$PY" -m pip install --quiet "${PIP_PKGS[@]}"

/usr/bin/chromium --version
"$PY" -c "import playwright; from importlib.metadata import version; print('playwright', version('playwright'))"
