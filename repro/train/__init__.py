"""The one training loop shared by every method.

It owns micro-batching, gradient accumulation, the loss normaliser of the whole
optimizer step, the named bug emulations, optimizer and schedule, clipping,
checkpoints and resume, metrics and FLOPs, and data-parallel execution.
Methods (repro.methods) only supply the sequences of a step and each token's loss.
"""

from repro.train.config import TrainConfig

__all__ = ["TrainConfig"]
