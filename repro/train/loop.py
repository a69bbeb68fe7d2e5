"""The training loop: one optimizer step = K micro-batches per rank, one shared normaliser.

Per optimizer step:
  1. the method hands this rank its sequences; they are split into K micro-batches;
  2. supervised tokens and sequences of the whole step are counted and summed over ranks,
     so every micro-batch has the step's normaliser before its backward;
  3. each micro-batch: forward, per-token loss from the method, aggregation into its
     contribution to the step loss, backward, accumulation (optionally through the named
     DeepSpeed offload bug);
  4. gradients are averaged over ranks, clipped, and the optimizer and schedule step.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm import tqdm

from repro.losses import AGGREGATIONS, StepContext, token_entropy, token_logprobs
from repro.methods.base import Method
from repro.models.io import count_parameters
from repro.train.accumulation import GradientAccumulator
from repro.train.batching import collate, split_micro_batches
from repro.train.checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from repro.train.config import TrainConfig
from repro.train.distributed import DistInfo, all_reduce_sum, average_gradients
from repro.train.schedule import lr_multiplier

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
METRICS_FILE = "metrics.jsonl"


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (norm gains and biases are not decayed)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.dim() >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_multiplier(step, cfg.num_steps, cfg.schedule, cfg.warmup_ratio, cfg.min_lr_ratio),
    )


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def run_optimizer_step(model: torch.nn.Module, method: Method, sequences, cfg: TrainConfig,
                       info: DistInfo, pad_token_id: int, max_length: int | None = None) -> dict[str, Any]:
    """Accumulate the gradient of one optimizer step into ``param.grad`` (not yet clipped or applied).

    Returns the step loss (summed over micro-batches, averaged over ranks), the step's token
    and sequence counts and the gradient that reached the optimizer is left in ``param.grad``.
    """
    num_micro = cfg.micro_batches_per_rank(info.world_size)
    micro_batches = split_micro_batches(sequences, len(sequences) // num_micro)
    local_tokens = sum(s.num_target_tokens for s in sequences)
    local_sequences = sum(1 for s in sequences if s.num_target_tokens > 0)
    # Sequences without a supervised token are not counted, as in count_tokens_and_sequences.
    num_tokens, num_sequences = all_reduce_sum([local_tokens, local_sequences], info)
    if num_tokens == 0:
        raise ValueError("the optimizer step has no supervised tokens; check the data's loss masks")
    step_context = StepContext(
        num_tokens=int(num_tokens),
        num_sequences=int(num_sequences),
        world_size=info.world_size,
        num_micro_batches=num_micro,
        max_length=max_length,
    )
    aggregate = AGGREGATIONS.get(cfg.effective_aggregation)  # an unknown name lists the valid ones
    parameters = [p for p in model.parameters() if p.requires_grad]
    accumulator = GradientAccumulator(parameters, cfg.optimizer_bug, num_micro)

    step_loss = 0.0
    dtype = next(model.parameters()).dtype
    for index, micro_sequences in enumerate(micro_batches):
        batch = collate(micro_sequences, pad_token_id, dtype=dtype)
        accumulator.begin_micro_step(index)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
        logprobs_BT = token_logprobs(logits, batch.targets_BT)
        entropy_BT = token_entropy(logits) if method.needs_entropy else None
        loss_BT = method.token_loss(batch, logprobs_BT, entropy_BT)
        contribution = aggregate(loss_BT, batch.loss_mask_BT, step_context)
        contribution.backward()
        accumulator.end_micro_step(index)
        step_loss += float(contribution.detach())
    accumulator.finalize()

    average_gradients(parameters, info)
    (step_loss,) = all_reduce_sum([step_loss], info)
    return {"loss": step_loss / info.world_size, "num_tokens": int(num_tokens), "num_sequences": int(num_sequences)}


def gradient_norm(parameters) -> float:
    norms = [p.grad.detach().norm(2) for p in parameters if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms), 2)) if norms else 0.0


def train(model: torch.nn.Module, method: Method, cfg: TrainConfig, run_dir: Path, *,
          pad_token_id: int, info: DistInfo = DistInfo(), max_length: int | None = None,
          stop_after_steps: int | None = None, progress: bool = True,
          callbacks: Sequence[Callable[[int, torch.nn.Module], dict[str, float]]] = (),
          initial_flops: float = 0.0) -> dict[str, Any]:
    """Train ``model`` in place for cfg.num_steps optimizer steps, resuming from run_dir's checkpoint.

    ``stop_after_steps`` ends the call after that many completed steps (with a checkpoint
    written), which is how tests emulate a killed run. Each callback runs after every
    optimizer step with (completed steps, model) and returns metrics for that step's line
    (e.g. a held-out evaluation every N steps). ``initial_flops`` is the compute already spent
    on the starting model (an SFT run before RL), so compute/flops counts the whole pipeline.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + info.rank)

    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg)
    num_parameters = count_parameters(model)
    metrics_path = run_dir / METRICS_FILE
    checkpoint_path = run_dir / CHECKPOINT_DIR

    start_step, flops = 0, float(initial_flops)
    state = load_checkpoint(checkpoint_path, info.rank, info.world_size)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        method.load_state_dict(state["method"])
        if state["rng"] is not None:
            set_rng_state(state["rng"])
        start_step, flops = state["step"], state["flops"]
        if info.is_main:
            _truncate_metrics(metrics_path, start_step)
        log.info("resumed from %s at step %d/%d", checkpoint_path, start_step, cfg.num_steps)
    elif info.is_main and metrics_path.exists():
        metrics_path.unlink()

    parameters = [p for p in model.parameters() if p.requires_grad]
    model.train()
    bar = tqdm(total=cfg.num_steps, initial=start_step, desc=f"train {method.name}",
               disable=not (progress and info.is_main), mininterval=2.0)
    last: dict[str, Any] = {}
    for step in range(start_step, cfg.num_steps):
        started = time.perf_counter()
        sequences = method.step_sequences(step)
        optimizer.zero_grad(set_to_none=True)
        result = run_optimizer_step(model, method, sequences, cfg, info, pad_token_id,
                                    max_length if max_length is not None else method.normaliser_length())

        norm = gradient_norm(parameters)
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, cfg.max_grad_norm)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()

        (generated,) = all_reduce_sum([method.generated_tokens()], info)
        # FLOPs: 6N per trained token (forward + backward), 2N per sampled token.
        flops += 6.0 * num_parameters * result["num_tokens"] + 2.0 * num_parameters * generated
        elapsed = time.perf_counter() - started
        last = {
            "step": step + 1,
            "train/loss": result["loss"],
            "train/grad_norm": norm,
            "train/lr": lr,
            "train/tokens": result["num_tokens"],
            "perf/tokens_per_s": result["num_tokens"] / elapsed,
            "perf/step_s": elapsed,
            "compute/flops": flops,
            **method.step_metrics(),
        }
        for callback in callbacks:
            last.update(callback(step + 1, model))
            model.train()
        if not math.isfinite(result["loss"]):
            raise FloatingPointError(f"step {step + 1}: loss is {result['loss']}; lower lr or check the data")
        if info.is_main:
            with open(metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(last) + "\n")
            if (step + 1) % cfg.log_every == 0:
                log.info("step %d/%d | loss %.4f | grad_norm %.4f | lr %.3g | tok/s %.0f",
                         step + 1, cfg.num_steps, result["loss"], norm, lr, last["perf/tokens_per_s"])
        bar.update(1)

        completed = step + 1
        stopping = stop_after_steps is not None and completed >= stop_after_steps
        if (cfg.checkpoint_every and completed % cfg.checkpoint_every == 0 and completed < cfg.num_steps) or stopping:
            save_checkpoint(checkpoint_path, step=completed, model=model, optimizer=optimizer,
                            scheduler=scheduler, method_state=method.state_dict(), flops=flops,
                            rank=info.rank, world_size=info.world_size)
        if stopping and completed < cfg.num_steps:
            bar.close()
            return {"stopped_at": completed, **last}
    bar.close()
    return last
