"""Training the VAE: configuration, data pipeline, loop, checkpoints, evaluation.

>>> from cryolatent.training import TrainConfig, train, eval_volumes   # doctest: +SKIP
>>> cfg = TrainConfig(); cfg.data.particles = "particles.mrcs"; cfg.data.poses = "poses.pkl"
>>> run = train(cfg, "out", callbacks=[print])                        # doctest: +SKIP
>>> vols = eval_volumes("out", run.z()[:5])                           # doctest: +SKIP
"""

from cryolatent.training.config import DataConfig, ModelConfig, OptimConfig, RuntimeConfig, TrainConfig
from cryolatent.training.evaluate import embed, eval_volumes, load_model
from cryolatent.training.loop import TrainingDiverged, train
from cryolatent.training.run import Run

__all__ = [
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
