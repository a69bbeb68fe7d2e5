"""Pretrain the organism's base model: a small fp32 loop, independent of repro.train.

    from repro.organism import OrganismConfig, PretrainConfig, build_organism_data, pretrain_base
    build_organism_data(OrganismConfig(), "work/organism_data")
    pretrain_base(PretrainConfig(), "work/organism_data", "work/organism_base")

AdamW with linear warm-up and a cosine decay, gradient clipping, one thread by default,
seeded. The texts of pretrain.jsonl are consumed in file order (the clean phase, then the
noisy phase), in windows sorted by length to cut padding. Every ``checkpoint_every`` steps
the model, optimizer, step and RNG states go to ``<out_dir>.ckpt/`` (a sibling of
``out_dir``), and a new call with ``resume=True`` continues from there, reproducing the
uninterrupted run. The finished model is written atomically as a Hugging Face folder with
the tokenizer, the generation config and manifest.json.

Training runs in fp32 on purpose: bf16 autocast around backward and the optimizer step
silently stopped learning at this model size (measured on a 2-core CPU with torch 2.13).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

import torch

from repro.organism.config import OrganismConfig, PretrainConfig, config_hash
from repro.organism.corpus import read_pretrain_texts
from repro.organism.manifest import file_hashes, git_commit
from repro.organism.model import build_model
from repro.organism.tokenizer import build_tokenizer
from repro.utils.atomic import atomic_output_dir, atomic_output_file, atomic_write_json

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"


def checkpoint_dir_for(out_dir: str | os.PathLike) -> Path:
    """Return the folder of resume checkpoints of a run writing ``out_dir``: ``<out_dir>.ckpt``."""
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}.ckpt"


def learning_rate(cfg: PretrainConfig, step: int, total_steps: int) -> float:
    """Return the learning rate of optimizer step ``step`` (0-based): linear warm-up to
    ``lr`` over ``warmup_steps``, then a cosine decay to ``lr * min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_steps = max(1, total_steps - 1 - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def batch_indices(cfg: PretrainConfig, lengths: list[int], step: int) -> list[int]:
    """Return the corpus indices of the batch of optimizer step ``step``.

    Window w holds texts [w*B*G, (w+1)*B*G) with B = batch_size and G = length_group_batches;
    they are sorted by length, cut into G batches, and the batches are shuffled with a seed
    that depends only on (seed, w). So a step's batch depends only on the step number.
    """
    group = cfg.length_group_batches
    window, position = divmod(step, group)
    start = window * cfg.batch_size * group
    stop = min(len(lengths), start + cfg.batch_size * group)
    ordered = sorted(range(start, stop), key=lambda i: (lengths[i], i))
    batches = [ordered[i : i + cfg.batch_size] for i in range(0, len(ordered), cfg.batch_size)]
    batches = [b for b in batches if len(b) == cfg.batch_size]
    random.Random(f"pretrain-batches:{cfg.seed}:{window}").shuffle(batches)
    return batches[position]


def collate(token_ids: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad sequences into input_ids, attention_mask and labels (-100 on padding)."""
    width = max(len(ids) for ids in token_ids)
    input_ids_BT = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    attention_mask_BT = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        input_ids_BT[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask_BT[row, : len(ids)] = 1
    labels_BT = input_ids_BT.masked_fill(attention_mask_BT == 0, -100)
    return {"input_ids": input_ids_BT, "attention_mask": attention_mask_BT, "labels": labels_BT}


def _read_organism_config(data_dir: Path) -> OrganismConfig:
    path = data_dir / "organism_config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; build the data folder with build_organism_data first")
    return OrganismConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))["config"])


def _make_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    # Weight decay on matrices only; norms' gains are left undecayed.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_output_file(path, mode="wb") as handle:
        torch.save(state, handle)


def pretrain_base(
    cfg: PretrainConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: bool = True,
    metrics: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Pretrain the base model on ``data_dir/pretrain.jsonl`` and write it to ``out_dir``.

    ``metrics`` (e.g. base pass@k) is copied into manifest.json. ``on_step(step, loss)`` is
    called after every optimizer step (1-based step). Returns ``out_dir``.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    organism_cfg = _read_organism_config(data_dir)
    run_hash = config_hash(cfg, organism_cfg)
    texts = read_pretrain_texts(data_dir)
    total_steps = cfg.steps if cfg.steps is not None else len(texts) // cfg.batch_size
    if total_steps * cfg.batch_size > len(texts) or total_steps < 1:
        raise ValueError(
            f"PretrainConfig.steps={cfg.steps} needs {total_steps * cfg.batch_size} texts, but "
            f"{data_dir / 'pretrain.jsonl'} has {len(texts)}; lower steps or raise OrganismConfig.pretrain_size"
        )

    torch.set_num_threads(cfg.num_threads)
    tokenizer = build_tokenizer()
    lengths = [len(t) for t in texts]
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    optimizer = _make_optimizer(model, cfg)

    checkpoint_dir = checkpoint_dir_for(out_dir)
    checkpoint_path = checkpoint_dir / CHECKPOINT_NAME
    start_step, tokens_seen, elapsed_before = 0, 0, 0.0
    # The commit of the code that started the run; a resumed run keeps the first segment's.
    started_commit = git_commit()
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        if state["config_hash"] != run_hash:
            raise ValueError(
                f"checkpoint {checkpoint_path} belongs to another config (hash {state['config_hash'][:12]}, "
                f"this run {run_hash[:12]}); delete {checkpoint_dir} or pass resume=False"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start_step, tokens_seen, elapsed_before = state["step"], state["tokens_seen"], state["elapsed_s"]
        started_commit = state.get("code_commit", started_commit)
        logger.info("resumed pretraining from %s at step %d/%d", checkpoint_path, start_step, total_steps)
    else:
        logger.info(
            "started pretraining: %d steps of %d texts, %d parameters, data %s",
            total_steps, cfg.batch_size, sum(p.numel() for p in model.parameters()), data_dir,
        )

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = checkpoint_dir / "metrics.jsonl"
    model.train()
    started = time.perf_counter()
    window_tokens, window_started = 0, time.perf_counter()
    for step in range(start_step, total_steps):
        lr = learning_rate(cfg, step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

        indices = batch_indices(cfg, lengths, step)
        encoded = tokenizer([texts[i] for i in indices], add_special_tokens=True)["input_ids"]
        batch = collate([ids + [tokenizer.eos_token_id] for ids in encoded], tokenizer.pad_token_id)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()

        step_tokens = int(batch["attention_mask"].sum())
        tokens_seen += step_tokens
        window_tokens += step_tokens
        done = step + 1
        loss_value = float(loss.detach())
        if on_step is not None:
            on_step(done, loss_value)
        if done % cfg.log_every == 0 or done == total_steps:
            now = time.perf_counter()
            tokens_per_s = window_tokens / max(now - window_started, 1e-9)
            elapsed = elapsed_before + now - started
            logger.info(
                "step %d/%d | loss %.4f | grad_norm %.3f | lr %.2e | tokens/s %.0f | elapsed %.0fs",
                done, total_steps, loss_value, float(grad_norm), lr, tokens_per_s, elapsed,
            )
            record = {"step": done, "train/loss": loss_value, "train/grad_norm": float(grad_norm),
                      "train/lr": lr, "perf/tokens_per_s": tokens_per_s, "tokens_seen": tokens_seen,
                      "elapsed_s": elapsed}
            with open(metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            window_tokens, window_started = 0, now
        if done % cfg.checkpoint_every == 0 and done < total_steps:
            _save_checkpoint(checkpoint_path, {
                "config_hash": run_hash, "step": done, "tokens_seen": tokens_seen,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(), "code_commit": started_commit,
            })

    build_time = elapsed_before + time.perf_counter() - started
    model.eval()
    with atomic_output_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        manifest = {
            "seed": cfg.seed,
            "config_hash": run_hash,
            "pretrain_config": cfg.to_dict(),
            "organism_config": organism_cfg.to_dict(),
            "code_commit": started_commit,
            "code_commit_at_finish": git_commit(),
            "build_time_s": round(build_time, 1),
            "steps": total_steps,
            "tokens_seen": tokens_seen,
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "torch_version": torch.__version__,
            "files": file_hashes(tmp),
            "metrics": metrics or {},
        }
        atomic_write_json(tmp / "manifest.json", manifest)
    logger.info("finished pretraining: %d steps, %d tokens, %.0fs; wrote %s", total_steps, tokens_seen, build_time, out_dir)
    return out_dir
