"""Training the VAE: configuration, data pipeline, loop, checkpoints, evaluation.

>>> from cryolatent.training import TrainConfig, train, eval_volumes   # doctest: +SKIP
>>> cfg = TrainConfig.from_preset("small", particles="particles.mrcs", poses="poses.pkl")
>>> run = train(cfg, "out", callbacks=[print])                        # doctest: +SKIP
>>> vols = eval_volumes("out", run.z()[:5])                           # doctest: +SKIP

Modules, imports one way (``a <- b``: b imports a): ``config``, ``data``,
``checkpoint``, ``distributed``, ``schedules`` (leaves) <- ``model`` (what a configuration
builds) <- ``run`` (the run folder's one reader) <- ``evaluate`` (embedding,
volumes) <- ``loop`` (:func:`train`, which writes the run folder).
"""

from cryolatent.training.config import PRESETS, DataConfig, ModelConfig, OptimConfig, RuntimeConfig, TrainConfig
from cryolatent.training.evaluate import embed, eval_volumes
from cryolatent.training.loop import TrainingDiverged, train
from cryolatent.training.run import Run, load_model

__all__ = [
    "PRESETS",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "Run",
    "RuntimeConfig",
    "TrainConfig",
    "TrainingDiverged",
    "embed",
    "eval_volumes",
    "load_model",
    "train",
]
