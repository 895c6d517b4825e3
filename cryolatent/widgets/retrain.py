"""Retrain from the panel: keep the selection in the project, show the exact command, start it.

The kept particles are saved with :meth:`Project.save_selection <cryolatent.project.Project.save_selection>`
(``selections/NAME.json`` and the cryoDRGN index ``NAME.pkl``); the command shown is
:meth:`Project.train_command <cryolatent.project.Project.train_command>`, and "train in the
background" runs that same command in its own process (:class:`~cryolatent.background.BackgroundRun`)
while a progress bar follows its training log, so the kernel stays free for exploring.
"""

from __future__ import annotations

import html
import shlex
import threading
import time

from ipywidgets import HTML, Button, Checkbox, Dropdown, HBox, IntProgress, IntText, Layout, Text, VBox

from cryolatent.background import BackgroundRun
from cryolatent.training.config import PRESETS
from cryolatent.widgets.state import PanelState

POLL_S = 1.0  # seconds between looks at a background run's progress


class RetrainView(VBox):
    """Save the kept particles as a named selection of ``project`` and retrain on them.

    Parameters
    ----------
    state
        The panel's state (its kept particles, messages).
    project
        The :class:`~cryolatent.project.Project` whose run the panel shows.
    """

    def __init__(self, state: PanelState, project):
        self.state, self.project = state, project
        self.run: BackgroundRun | None = None
        self.name = Text(value="keep", description="selection", layout=Layout(width="200px"))
        self.preset = Dropdown(options=list(PRESETS), value="small", description="preset", layout=Layout(width="170px"))
        self.zdim = IntText(value=8, description="zdim", layout=Layout(width="120px"))
        self.epochs = IntText(value=20, description="epochs", layout=Layout(width="130px"))
        self.overwrite = Checkbox(value=False, description="overwrite", indent=False, layout=Layout(width="90px"))
        self.save_button = Button(description="save selection", icon="save", tooltip="keep the kept particles in the project")
        self.save_button.add_class("cl-retrain-save")
        self.start_button = Button(description="train in the background", icon="play",
                                   tooltip="save the selection and run the command below in its own process")
        self.start_button.add_class("cl-retrain-start")
        self.command = HTML("")
        self.command.add_class("cl-retrain-command")
        self.progress = IntProgress(value=0, min=0, max=100, layout=Layout(width="300px", visibility="hidden"))
        self.progress.add_class("cl-retrain-progress")
        self.save_button.on_click(lambda _: self.save())
        self.start_button.on_click(lambda _: self.start())
        super().__init__([
            HBox([self.name, self.preset, self.zdim, self.epochs, self.overwrite]),
            HBox([self.save_button, self.start_button, self.progress]),
            self.command,
        ])
        self.add_class("cryolatent-retrain")

    @property
    def run_name(self) -> str:
        return f"{self.name.value.strip()}_retrain"

    def command_line(self) -> list[str]:
        """The ``cryolatent train`` command for the current settings."""
        return self.project.train_command(self.run_name, selection=self.name.value.strip(), preset=self.preset.value,
                                          zdim=self.zdim.value, epochs=self.epochs.value)

    def save(self) -> bool:
        """Save the kept particles under the name; show the command. False (and a message) on failure."""
        s, name = self.state, self.name.value.strip()
        if not name:
            s.error("give the selection a name")
            return False
        kept = s.kept_selection(name)
        if not len(kept):
            s.error("nothing to retrain on: the selection is empty")
            return False
        try:
            self.project.save_selection(kept, s.ls, name, force=self.overwrite.value)
        except Exception as exc:  # an existing selection, an unwritable project: the panel's message
            s.error(f"selection not saved: {exc}")
            return False
        cmd = shlex.join(self.command_line())
        ind = self.project.path(f"selections/{name}.pkl")
        self.command.value = (f"<code>{html.escape(cmd)}</code><br><small>or any cryoDRGN command with "
                              f"<code>--ind {html.escape(str(ind))}</code></small>")
        s.info(f"saved {len(kept):,} particles as selection {name!r}")
        return True

    def start(self) -> BackgroundRun | None:
        """Save the selection, then run the command in the background with a progress bar."""
        if self.run is not None and self.run.running:
            self.state.warn("a run is still training; wait for it to finish")
            return None
        if not self.save():
            return None
        args = self.command_line()[1:]
        outdir = self.project.path(f"runs/{self.run_name}")
        self.run = BackgroundRun(args, outdir, self.epochs.value, self.project.path(f"logs/{self.run_name}.log"))
        self.progress.value, self.progress.bar_style = 0, ""
        self.progress.layout.visibility = "visible"
        self.state.info(f"training {self.run_name} in the background")
        threading.Thread(target=self._follow, args=(self.run,), daemon=True).start()
        return self.run

    def _follow(self, run: BackgroundRun) -> None:
        """Update the progress bar until the run ends, then say how it ended."""
        while run.running:
            self.progress.value = int(100 * run.fraction)
            time.sleep(POLL_S)
        if run.returncode == 0:
            self.progress.value, self.progress.bar_style = 100, "success"
            self.state.info(f"{self.run_name} finished: open it with project.latent({self.run_name!r})")
        else:
            self.progress.bar_style = "danger"
            self.state.error(f"{self.run_name} stopped: {run.last_line() or f'exit status {run.returncode}'}")
