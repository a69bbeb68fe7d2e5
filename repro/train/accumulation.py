"""Gradient accumulation over the micro-steps of one optimizer step, with the named
DeepSpeed ZeRO-2 CPU-offload bug as an opt-in emulation.

Correct accumulation hands the optimizer sum_k g_k, where g_k is the gradient of
micro-step k (already carrying its share of the step normaliser).

The bug (DeepSpeed 0.15.2 to 0.18.9, ZeRO-2 with the optimizer offloaded to the CPU,
fixed in 0.19.0 by PR #7967; code path deepspeed/runtime/zero/stage_1_and_2.py): the
device gradient is copied into the CPU accumulation buffer only at micro-step 0, and the
last micro-step's gradient is added at the boundary, so the optimizer receives
g_0 + g_{K-1} and micro-steps 1..K-2 are lost. K <= 2 is unaffected. Modes:
  first_plus_last  g_0 + g_{K-1}  (code-faithful default)
  first_only       g_0            (what the text of arXiv 2604.23747 describes)
  last_only        g_{K-1}        (sibling bug, DeepSpeed PR #7981: only the last backward)
The gradient norm that is logged and clipped is computed from this reduced gradient.
"""

from __future__ import annotations

from typing import Sequence

import torch

from repro.train.config import OPTIMIZER_BUG_MODES


def kept_micro_steps(mode: str, num_micro_steps: int) -> list[int]:
    """Indices of the micro-steps whose gradients reach the optimizer under ``mode``."""
    if mode not in OPTIMIZER_BUG_MODES:
        raise ValueError(f"unknown optimizer bug mode {mode!r}; choose one of {list(OPTIMIZER_BUG_MODES)}")
    if num_micro_steps < 1:
        raise ValueError(f"num_micro_steps must be at least 1, got {num_micro_steps}")
    last = num_micro_steps - 1
    if mode == "none":
        return list(range(num_micro_steps))
    if mode == "first_plus_last":
        return sorted({0, last})
    if mode == "first_only":
        return [0]
    return [last]


def combine_micro_step_grads(mode: str, grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """Return the gradient the optimizer receives from per-micro-step gradients ``grads``."""
    kept = kept_micro_steps(mode, len(grads))
    total = torch.zeros_like(grads[0])
    for index in kept:
        total = total + grads[index]
    return total


class GradientAccumulator:
    """Accumulate parameter gradients micro-step by micro-step under a bug mode.

    Call ``begin_micro_step(k)`` before each backward and ``end_micro_step(k)`` after it.
    In mode "none" the gradients accumulate in ``param.grad`` as usual. Otherwise each
    micro-step's gradient is isolated and only the kept ones are summed into a buffer,
    which ``finalize()`` writes back into ``param.grad``.
    """

    def __init__(self, parameters: Sequence[torch.nn.Parameter], mode: str, num_micro_steps: int):
        self.parameters = [p for p in parameters if p.requires_grad]
        self.mode = mode
        self.num_micro_steps = num_micro_steps
        self.kept = set(kept_micro_steps(mode, num_micro_steps))
        self._buffer: list[torch.Tensor] | None = None

    def begin_micro_step(self, index: int) -> None:
        if self.mode == "none":
            return
        for parameter in self.parameters:
            parameter.grad = None

    def end_micro_step(self, index: int) -> None:
        if self.mode == "none":
            return
        if self._buffer is None:
            self._buffer = [torch.zeros_like(p) for p in self.parameters]
        if index not in self.kept:
            return
        for slot, parameter in zip(self._buffer, self.parameters):
            if parameter.grad is not None:
                slot.add_(parameter.grad)

    def finalize(self) -> None:
        if self.mode == "none":
            return
        assert self._buffer is not None, "finalize() called before any micro-step"
        for slot, parameter in zip(self._buffer, self.parameters):
            parameter.grad = slot
        self._buffer = None
