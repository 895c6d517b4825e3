"""Retrain from the panel: the kept particles become a project selection, the command shown is the
one :meth:`Project.train` runs, and "train in the background" trains it in its own process."""

from __future__ import annotations

import shlex
import time

import numpy as np
import pytest

import cryolatent as cl
from cryolatent.project import Project
from cryolatent.widgets.retrain import RetrainView
from cryolatent.widgets.state import PanelState

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = Project.demo(tmp_path_factory.mktemp("retrain") / "p", "tiny", box=24, progress=False)
    proj.train("first", preset="tiny", zdim=2, epochs=1, progress=False)
    return proj


def test_save_shows_the_command_and_writes_the_selection(project):
    state = PanelState(project.latent("first"))
    view = RetrainView(state, project)
    state.select_indices(np.arange(0, 200, 2))
    view.name.value, view.epochs.value = "even", 3
    assert view.save()
    ind = cl.io.load_index(project.path("selections/even.pkl"))
    np.testing.assert_array_equal(np.sort(ind), state.kept_indices)
    cmd = shlex.split(view.command.value.split("<code>")[1].split("</code>")[0].replace("&#x27;", "'"))
    assert cmd == project.train_command("even_retrain", selection="even", preset="small", zdim=8, epochs=3)
    assert cmd[:2] == ["cryolatent", "train"] and cmd[cmd.index("--selection") + 1] == "even"
    # again: refused without overwrite, in the panel's words; nothing changes
    state.select_indices([1, 2, 3])
    assert not view.save() and "selection not saved" in state.message and state.message_level == "error"
    assert len(cl.io.load_index(project.path("selections/even.pkl"))) == 100
    state.select_indices([])
    view.name.value, view.overwrite.value = "none", True
    assert not view.save() and "empty" in state.message


def test_train_in_the_background(project):
    state = PanelState(project.latent("first"))
    view = RetrainView(state, project)
    state.select_indices(np.arange(120))
    view.name.value, view.preset.value, view.zdim.value, view.epochs.value = "first120", "tiny", 2, 2
    run = view.start()
    assert run is not None and view.progress.layout.visibility == "visible"
    assert run.wait(300) == 0, run.log.read_text()[-2000:]
    assert run.epochs_done == 2 and run.fraction == 1.0
    deadline = time.monotonic() + 10  # the progress thread looks once a second
    while "finished" not in state.message and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "first120_retrain finished" in state.message and view.progress.value == 100
    again = Project.open(project.root)
    assert again.record["runs"]["first120_retrain"]["selection"] == "first120"
    assert len(again.latent("first120_retrain")) == 120
