"""Helpers for the real-browser tests: a throwaway JupyterLab server and Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("CRYOLATENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL (plotly scattergl / mesh3d) without a GPU: SwiftShader through ANGLE.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
# JupyterLab settings that keep toasts and dialogs out of the way.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "autoStartDefaultKernel": True},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"jupyter lab did not answer {url} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def jupyter_lab(tmp: Path, notebooks: list[Path], env: dict[str, str] | None = None):
    """Start ``jupyter lab`` on 127.0.0.1 (no token) serving copies of ``notebooks``;
    yields ``(base_url, root_dir)``. Config, data, runtime and settings dirs live in ``tmp``."""
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy(nb, root / nb.name)
    settings = tmp / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    full_env = dict(os.environ)
    full_env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    full_env.pop("JUPYTER_PATH", None)
    full_env.update(env or {})
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False", "--IdentityProvider.token=", "--ServerApp.password=",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "jupyter.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=full_env, cwd=root)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{base}/api/status", proc, log)
            yield base, root
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(pred, timeout: float, what: str, poll: float = 0.1):
    """``pred()``'s first truthy value, polled until ``timeout`` seconds (then an AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def tiny_project(tmp_path: Path, monkeypatch) -> tuple[dict[str, str], object]:
    """The notebooks' settings for the ``tiny`` dataset in ``tmp_path`` (also set in this process)
    and its project with the run "first" trained (3 epochs), so that a notebook only loads it."""
    from cryolatent.notebook import ensure_run, project, settings

    env = {"CRYOLATENT_NB_DATASET": "tiny", "CRYOLATENT_NB_EPOCHS": "3",
           "CRYOLATENT_NB_WORKDIR": str(tmp_path / "work")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb_settings = settings()
    proj = project(nb_settings, progress=False)
    ensure_run(proj, "first", nb_settings)
    return env, proj


def run_all_cells(page, base: str, nb_name: str, ready: str = ".cryolatent-scatter[data-ready='1']") -> None:
    """Open notebook ``nb_name`` in JupyterLab at ``base``, run all its cells and wait for ``ready``."""
    import re

    page.goto(f"{base}/lab/tree/{nb_name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # Run All before the kernel session is up is silently dropped: wait for "| Idle"
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.wait_for_selector(ready, timeout=240_000)
