"""Training the VAE: configuration, data pipeline, loop, checkpoints, evaluation.

>>> from cryolatent.train import TrainConfig, train, eval_volumes   # doctest: +SKIP
>>> cfg = TrainConfig(); cfg.data.particles = "particles.mrcs"; cfg.data.poses = "poses.pkl"
>>> run = train(cfg, "out", callbacks=[print])                        # doctest: +SKIP
>>> vols = eval_volumes("out", run.z()[:5])                           # doctest: +SKIP
"""

from .config import DataConfig, ModelConfig, OptimConfig, RuntimeConfig, TrainConfig
from .evaluate import embed, eval_volumes, load_model
from .loop import TrainingDiverged, train
from .run import Run

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
