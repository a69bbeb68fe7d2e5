"""GRPO and its family: on-policy groups, group-relative advantages, a clipped policy loss.

Each optimizer step samples ``group_size`` responses for each of
global_batch_size / group_size prompts with the current policy, which is therefore pi_old.
The verifier rewards them, a registered estimator turns the rewards into one advantage per
response, and a registered policy loss trains on them. The aggregation mode is the
loop's setting, independent of this method. Optional terms: a KL penalty to the initial
policy (as a loss term or as a detached reward penalty) and an entropy bonus.
"""

from __future__ import annotations

from typing import Any

import torch

from repro.data.schema import read_problems
from repro.losses import ADVANTAGE_ESTIMATORS, POLICY_LOSSES, kl_penalty
from repro.methods.base import METHODS, Method, MethodContext
from repro.methods.sft import global_batch_indices
from repro.models.chat import check_prompt_format, encode_prompt
from repro.models.tokens import eos_token_ids, pad_token_id
from repro.rewards import verifier_reward
from repro.train.batching import SOURCE_ON_POLICY, TrainSequence

DEFAULTS: dict[str, Any] = {
    "data": None,                 # problem JSONL of RL prompts with gold answers
    "domains": None,              # train only on prompts of these domains (None: all), e.g. for see-saw studies
    "group_size": 8,              # G responses per prompt
    "temperature": 1.0,
    "top_p": 1.0,
    "max_new_tokens": 256,
    "rollout_batch_size": 64,
    "answer_type": "integer",
    "advantage": "dr_grpo",       # registered name in repro.losses.ADVANTAGE_ESTIMATORS
    "advantage_params": {},
    "policy_loss": "clipped",     # registered name in repro.losses.POLICY_LOSSES
    "policy_loss_params": {"eps_low": 0.2, "eps_high": 0.28},
    "kl_coef": 0.0,
    "kl_estimator": "k3",
    "kl_mode": "loss",            # "loss": differentiable term; "reward": detached penalty on the reward
    "entropy_coef": 0.0,
    "prompt_format": "raw",       # "raw": BOS + prompt; "chat": the tokenizer's chat template (repro.models.chat)
}


@METHODS.register("grpo")
class GRPO(Method):
    name = "grpo"

    def __init__(self, params: dict[str, Any], context: MethodContext):
        unknown = sorted(set(params) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"unknown grpo parameter(s) {unknown}; valid: {sorted(DEFAULTS)}")
        super().__init__({**DEFAULTS, **params}, context)
        p = self.params
        if not p["data"]:
            raise ValueError("grpo needs params.data: a problem JSONL file of RL prompts with gold answers")
        if context.global_batch_size % (p["group_size"] * context.world_size):
            raise ValueError(
                f"global_batch_size={context.global_batch_size} must be a multiple of "
                f"group_size * world_size = {p['group_size']} * {context.world_size}"
            )
        if p["kl_mode"] not in ("loss", "reward"):
            raise ValueError(f"kl_mode={p['kl_mode']!r} is invalid; choose 'loss' or 'reward'")
        ADVANTAGE_ESTIMATORS.get(p["advantage"])
        POLICY_LOSSES.get(p["policy_loss"])
        self.needs_entropy = p["entropy_coef"] > 0
        self.problems = read_problems(p["data"])
        if p["domains"] is not None:
            available = sorted({problem.domain for problem in self.problems})
            unknown = sorted(set(p["domains"]) - set(available))
            if unknown:
                raise ValueError(f"grpo params.domains {unknown} do not occur in {p['data']}; available: {available}")
            self.problems = [problem for problem in self.problems if problem.domain in p["domains"]]
        tokenizer = context.tokenizer
        check_prompt_format(p["prompt_format"])
        self.prompts = [encode_prompt(tokenizer, problem.prompt, p["prompt_format"]) for problem in self.problems]
        self.eos_ids = eos_token_ids(context.policy, tokenizer)
        self.reference = None
        if p["kl_coef"] > 0:
            import copy

            self.reference = copy.deepcopy(context.policy).eval().requires_grad_(False)
        self._last_metrics: dict[str, float] = {}
        self._generated = 0
        self._stats_sum: dict[str, float] = {}
        self._stats_count = 0

    @property
    def prompts_per_step(self) -> int:
        return self.context.global_batch_size // self.params["group_size"]

    def step_sequences(self, step: int) -> list[TrainSequence]:
        from repro.rollout import sample, score

        ctx, p = self.context, self.params
        indices = global_batch_indices(step, self.prompts_per_step, len(self.problems), ctx.seed)
        per_rank = self.prompts_per_step // ctx.world_size
        mine = indices[ctx.rank * per_rank: (ctx.rank + 1) * per_rank]
        rollout = sample(
            ctx.policy,
            [self.prompts[i] for i in mine],
            num_samples=p["group_size"],
            max_new_tokens=p["max_new_tokens"],
            temperature=p["temperature"],
            top_p=p["top_p"],
            eos_token_ids=self.eos_ids,
            pad_token_id=pad_token_id(ctx.tokenizer),
            seed=(ctx.seed * 1_000_003 + step) * 101 + ctx.rank,
            batch_size=p["rollout_batch_size"],
        )
        rewards = []
        eos_set = set(self.eos_ids)
        for row, prompt_row in enumerate(rollout.prompt_index):
            problem = self.problems[mine[prompt_row]]
            text = ctx.tokenizer.decode([t for t in rollout.response_ids[row] if t not in eos_set],
                                        skip_special_tokens=True)
            rewards.append(verifier_reward(text, problem.answer, p["answer_type"], rollout.finish_reasons[row]))
        rewards_PG = torch.tensor(rewards, dtype=torch.float64).view(len(mine), p["group_size"])

        ref_logprobs = None
        if self.reference is not None:
            ref_logprobs = score(self.reference, rollout.prompt_ids, rollout.response_ids, p["temperature"])
        shaped_PG = rewards_PG
        if self.reference is not None and p["kl_mode"] == "reward":
            kl_per_row = [sum(old - ref for old, ref in zip(rollout.logprobs[r], ref_logprobs[r]))
                          for r in range(len(rollout.response_ids))]
            shaped_PG = rewards_PG - p["kl_coef"] * torch.tensor(kl_per_row, dtype=torch.float64).view_as(rewards_PG)
        advantages_PG = ADVANTAGE_ESTIMATORS.get(p["advantage"])(shaped_PG, **p["advantage_params"])

        sequences = []
        for row, prompt_ids in enumerate(rollout.prompt_ids):
            response = rollout.response_ids[row]
            advantage = float(advantages_PG.view(-1)[row])
            prompt_len = len(prompt_ids)
            extra = {}
            if ref_logprobs is not None and p["kl_mode"] == "loss":
                extra["ref_logprobs"] = [0.0] * prompt_len + list(ref_logprobs[row])
            sequences.append(TrainSequence(
                input_ids=list(prompt_ids) + list(response),
                loss_mask=[False] * prompt_len + [True] * len(response),
                advantages=[0.0] * prompt_len + [advantage] * len(response),
                old_logprobs=[0.0] * prompt_len + list(rollout.logprobs[row]),
                source=[SOURCE_ON_POLICY] * (prompt_len + len(response)),
                extra=extra,
            ))

        lengths = [len(r) for r in rollout.response_ids]
        self._generated = sum(lengths)
        self._stats_sum, self._stats_count = {}, 0
        self._last_metrics = {
            "reward/mean": float(rewards_PG.mean()),
            "reward/std": float(rewards_PG.std()) if rewards_PG.numel() > 1 else 0.0,
            "reward/solved_groups": float((rewards_PG.max(dim=1).values > 0).float().mean()),
            "reward/zero_advantage_groups": float((advantages_PG.abs().max(dim=1).values == 0).float().mean()),
            "response/length_mean": sum(lengths) / len(lengths),
            "response/eos_rate": sum(f == "eos" for f in rollout.finish_reasons) / len(lengths),
        }
        return sequences

    def token_loss(self, batch, logprobs_BT, entropy_BT):
        p = self.params
        loss_BT, stats = POLICY_LOSSES.get(p["policy_loss"])(
            logprobs_BT, batch.old_logprobs_BT, batch.advantages_BT, batch.loss_mask_BT, **p["policy_loss_params"]
        )
        if self.reference is not None and p["kl_mode"] == "loss":
            kl_BT = kl_penalty(logprobs_BT, batch.extra_BT["ref_logprobs"], batch.loss_mask_BT,
                               estimator=p["kl_estimator"], detach=False)
            loss_BT = loss_BT + p["kl_coef"] * kl_BT
        if entropy_BT is not None:
            loss_BT = loss_BT - p["entropy_coef"] * entropy_BT
        for name, value in stats.items():
            self._stats_sum[f"policy/{name}"] = self._stats_sum.get(f"policy/{name}", 0.0) + float(value)
        self._stats_count += 1
        return loss_BT

    def step_metrics(self) -> dict[str, float]:
        averaged = {name: total / self._stats_count for name, total in self._stats_sum.items()} if self._stats_count else {}
        return {**self._last_metrics, **averaged}

    def generated_tokens(self) -> int:
        return self._generated

    def normaliser_length(self) -> int:
        return int(self.params["max_new_tokens"])
