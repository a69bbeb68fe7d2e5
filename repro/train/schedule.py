"""Learning-rate schedules as multipliers of the peak lr."""

from __future__ import annotations

import math


def lr_multiplier(step: int, num_steps: int, schedule: str, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Multiplier for optimizer step ``step`` (0-based) of ``num_steps``.

    cosine: linear warmup over ceil(warmup_ratio * num_steps) steps from 1/warmup to 1, then
    cosine decay from 1 to min_lr_ratio at the last step. constant: 1 after the same warmup.
    """
    warmup_steps = math.ceil(warmup_ratio * num_steps)
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    decay_steps = max(1, num_steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr_ratio + (1.0 - min_lr_ratio) * cosine
