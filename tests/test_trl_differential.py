"""Differential test: the harness's GRPO losses against TRL 1.16's GRPOTrainer on one fixed batch.

TRL's side is its own loss code. A GRPOTrainer is built offline on CPU (no vLLM, a dummy
reward), and its ``compute_loss`` gets a prepared inputs dict with the keys that
``_generate_and_score_completions`` produces: prompt and completion ids and masks, advantages,
old per-token log-probs and num_items_in_batch. The harness's side is token_logprobs,
POLICY_LOSSES["clipped"] and the aggregation mode, first composed by hand and then through
``repro.train.loop.run_optimizer_step`` with the GRPO method's token loss. Both start from the
same weights, and losses and gradients agree to 1e-6.

How each TRL loss_type maps onto an aggregation mode, and where the definitions differ:

- ``grpo`` -> seq_mean_token_mean. TRL averages the per-sequence token means over the rows of
  each micro-batch, then divides by the K accumulation steps. The harness divides the sum of
  sequence means by the number of sequences in the whole step. They agree when every
  micro-batch has the same number of rows and no row has an empty completion mask. TRL
  counts such a row in its mean, while the harness does not count it.
- ``bnpo`` -> micro_batch_token_mean: each micro-batch's token mean divided by K in both.
- ``dr_grpo`` -> constant with max_length = max_completion_length. TRL divides each
  micro-batch's sum by (rows * max_completion_length * K), the harness the step's sum by
  (non-empty sequences of the step * max_length). The same conditions as for ``grpo`` apply.
- ``dapo`` -> token_mean. TRL divides by num_items_in_batch, the completion tokens of the whole
  generation batch, rescaled by K / steps_per_generation. That is the step's token count
  only when one generation batch makes one optimizer step (TRL's default,
  steps_per_generation = gradient_accumulation_steps).
- ``luspo`` -> seq_mean_token_sum, but only with importance_sampling_level="token". The LUSPO
  setup uses sequence-level importance ratios (TRL warns otherwise), and the harness has no
  sequence-level ratio in POLICY_LOSSES.

Not matched: ``cispo`` (a detached, clamped ratio times the log-prob), ``sapo`` (a sigmoid gate
in place of the clip) and ``vespo`` (sequence-level gamma weights) use per-token losses that
differ from the clipped surrogate, so no aggregation mode reproduces them.

GRPOConfig sets bf16=True by default, and on CPU that runs TRL's forward under bfloat16
autocast: log-probs then differ from float32 ones by about 5e-4. The trainer here sets
bf16=False so that both sides compute in float32.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pytest
import torch

trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from repro.data.schema import Problem, write_problems  # noqa: E402
from repro.losses import AGGREGATIONS, POLICY_LOSSES, StepContext, token_logprobs  # noqa: E402
from repro.methods import MethodContext, build_method  # noqa: E402
from repro.organism import PretrainConfig, build_model, build_tokenizer  # noqa: E402
from repro.train.batching import TrainSequence  # noqa: E402
from repro.train.config import TrainConfig  # noqa: E402
from repro.train.distributed import DistInfo  # noqa: E402
from repro.train.loop import run_optimizer_step  # noqa: E402

TRL_LOSS_TYPE_TO_AGGREGATION = {
    "grpo": "seq_mean_token_mean",
    "bnpo": "micro_batch_token_mean",
    "dr_grpo": "constant",
    "dapo": "token_mean",
    "luspo": "seq_mean_token_sum",
}
TOLERANCE = 1e-6

EPS_LOW, EPS_HIGH = 0.2, 0.28
MAX_COMPLETION_LENGTH = 8
PROMPT_LENGTH = 5
# One group of 4 completions. Unequal lengths make the aggregation modes disagree. Split into
# two micro-batches of 2 rows, the halves contain 13 and 3 tokens, so bnpo and dapo disagree too.
COMPLETION_LENGTHS = (7, 6, 1, 2)
ADVANTAGES = (1.5, -0.5, 0.8, -1.2)
# old log-prob = current log-prob - offset, so the log-ratio at completion position k is
# OFFSETS[k]. exp(+-0.4) and exp(+-0.3) fall outside [1 - 0.2, 1 + 0.28], so the clip is
# active on both sides for some tokens and inactive for others.
LOG_RATIO_OFFSETS = (0.4, -0.4, 0.1, -0.1, 0.0, 0.3, -0.3)
TINY_MODEL = PretrainConfig(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                            max_position_embeddings=64)


@dataclass(frozen=True)
class FixedBatch:
    """One GRPO group as TRL stores it: prompts without padding, right-padded completions."""

    state_dict: dict[str, torch.Tensor]
    pad_token_id: int
    prompt_ids_BP: torch.Tensor
    completion_ids_BC: torch.Tensor
    completion_mask_BC: torch.Tensor
    advantages_B: torch.Tensor
    old_logprobs_BC: torch.Tensor   # 0 at padded positions, like TRL's own log-probs

    @property
    def num_rows(self) -> int:
        return self.prompt_ids_BP.shape[0]


def model_from(batch: FixedBatch) -> torch.nn.Module:
    model = build_model(TINY_MODEL)
    model.load_state_dict(batch.state_dict)
    return model.train()


def harness_completion_logprobs(model: torch.nn.Module, batch: FixedBatch) -> torch.Tensor:
    """Log-probs of the completion tokens, shape (B, C), from one forward over prompt + completion."""
    input_ids_BL = torch.cat([batch.prompt_ids_BP, batch.completion_ids_BC], dim=1)
    attention_mask_BL = torch.cat([torch.ones_like(batch.prompt_ids_BP), batch.completion_mask_BC], dim=1)
    logits_BTV = model(input_ids=input_ids_BL, attention_mask=attention_mask_BL).logits[:, :-1]
    logprobs_BT = token_logprobs(logits_BTV, input_ids_BL[:, 1:])
    # Target t predicts token t + 1, so completion token k is target PROMPT_LENGTH - 1 + k.
    return logprobs_BT[:, PROMPT_LENGTH - 1:]


@pytest.fixture(scope="module")
def batch() -> FixedBatch:
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    tokenizer = build_tokenizer()
    num_rows, width = len(COMPLETION_LENGTHS), max(COMPLETION_LENGTHS)

    # Ids 0-3 are the special tokens, so draw from the others.
    generator = torch.Generator().manual_seed(1)
    prompt_ids_BP = torch.randint(4, model.config.vocab_size, (num_rows, PROMPT_LENGTH), generator=generator)
    completion_ids_BC = torch.randint(4, model.config.vocab_size, (num_rows, width), generator=generator)
    completion_mask_BC = torch.tensor([[1] * n + [0] * (width - n) for n in COMPLETION_LENGTHS])
    completion_ids_BC = completion_ids_BC.masked_fill(completion_mask_BC == 0, tokenizer.pad_token_id)

    state_dict = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    partial = FixedBatch(state_dict, tokenizer.pad_token_id, prompt_ids_BP, completion_ids_BC,
                         completion_mask_BC, torch.tensor(ADVANTAGES), torch.zeros(num_rows, width))
    with torch.no_grad():
        current_BC = harness_completion_logprobs(model, partial)
    old_logprobs_BC = current_BC - torch.tensor(LOG_RATIO_OFFSETS)
    old_logprobs_BC = torch.where(completion_mask_BC.bool(), old_logprobs_BC, 0.0)
    return dataclasses.replace(partial, old_logprobs_BC=old_logprobs_BC)


def gradients_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: parameter.grad.detach().clone() for name, parameter in model.named_parameters()}


def assert_gradients_close(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=TOLERANCE, msg=name)


# --- TRL's side ---------------------------------------------------------------------------------


def zero_reward(completions, **kwargs):
    return [0.0] * len(completions)


def build_trl_trainer(model, loss_type: str, num_micro_batches: int, output_dir) -> "trl.GRPOTrainer":
    num_rows = len(COMPLETION_LENGTHS)
    args = trl.GRPOConfig(
        output_dir=str(output_dir),
        loss_type=loss_type,
        per_device_train_batch_size=num_rows // num_micro_batches,
        gradient_accumulation_steps=num_micro_batches,
        num_generations=num_rows,
        max_completion_length=MAX_COMPLETION_LENGTH,
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        beta=0.0,
        bf16=False,
        use_cpu=True,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
    )
    dataset = datasets.Dataset.from_dict({"prompt": ["1+1="] * num_rows})
    return trl.GRPOTrainer(model=model, reward_funcs=zero_reward, args=args, train_dataset=dataset,
                           processing_class=build_tokenizer())


def trl_step(batch: FixedBatch, loss_type: str, num_micro_batches: int, output_dir):
    """Return TRL's step loss (sum over micro-batches) and the accumulated gradients."""
    trainer = build_trl_trainer(model_from(batch), loss_type, num_micro_batches, output_dir)
    assert trainer.args.steps_per_generation == num_micro_batches
    # Set by transformers' Trainer loop before each accumulation window.
    trainer.current_gradient_accumulation_steps = num_micro_batches
    rows = batch.num_rows // num_micro_batches

    step_loss = 0.0
    for index in range(num_micro_batches):
        part = slice(index * rows, (index + 1) * rows)
        inputs = {
            "prompt_ids": batch.prompt_ids_BP[part],
            "prompt_mask": torch.ones_like(batch.prompt_ids_BP[part]),
            "completion_ids": batch.completion_ids_BC[part],
            "completion_mask": batch.completion_mask_BC[part],
            "advantages": batch.advantages_B[part],
            "old_per_token_logps": batch.old_logprobs_BC[part],
            # Completion tokens of the whole generation batch, which is the whole step here.
            "num_items_in_batch": batch.completion_mask_BC.sum(),
        }
        loss = trainer.compute_loss(trainer.model, inputs)
        loss.backward()
        step_loss += float(loss.detach())
    return step_loss, gradients_of(trainer.model)


# --- the harness's side -------------------------------------------------------------------------


def harness_function_loss(batch: FixedBatch, aggregation: str):
    """Compose token_logprobs, the clipped loss and one aggregation over one micro-batch and rank."""
    model = model_from(batch)
    logprobs_BC = harness_completion_logprobs(model, batch)
    advantages_BC = batch.advantages_B[:, None].expand_as(logprobs_BC)
    loss_BC, stats = POLICY_LOSSES.get("clipped")(
        logprobs_BC, batch.old_logprobs_BC, advantages_BC, batch.completion_mask_BC,
        eps_low=EPS_LOW, eps_high=EPS_HIGH,
    )
    context = StepContext(num_tokens=int(batch.completion_mask_BC.sum()), num_sequences=batch.num_rows,
                          max_length=MAX_COMPLETION_LENGTH)
    loss = AGGREGATIONS.get(aggregation)(loss_BC, batch.completion_mask_BC, context)
    loss.backward()
    return float(loss.detach()), gradients_of(model), stats


def train_sequences(batch: FixedBatch) -> list[TrainSequence]:
    """The batch as the GRPO method hands it to the loop: per-token fields aligned with input_ids."""
    sequences = []
    for row, length in enumerate(COMPLETION_LENGTHS):
        prompt = batch.prompt_ids_BP[row].tolist()
        completion = batch.completion_ids_BC[row, :length].tolist()
        sequences.append(TrainSequence(
            input_ids=prompt + completion,
            loss_mask=[False] * len(prompt) + [True] * length,
            advantages=[0.0] * len(prompt) + [ADVANTAGES[row]] * length,
            old_logprobs=[0.0] * len(prompt) + batch.old_logprobs_BC[row, :length].tolist(),
        ))
    return sequences


def harness_step(batch: FixedBatch, aggregation: str, num_micro_batches: int, data_dir):
    """Run the loop's optimizer step with the GRPO method's token loss and return loss and gradients."""
    data_path = data_dir / "rl.jsonl"
    write_problems(data_path, [Problem(id="p0", prompt="1+1=", answer="2")])
    model = model_from(batch)
    num_rows = batch.num_rows
    context = MethodContext(policy=model, tokenizer=build_tokenizer(), seed=0, global_batch_size=num_rows)
    method = build_method("grpo", {
        "data": str(data_path),
        "group_size": num_rows,
        "policy_loss": "clipped",
        "policy_loss_params": {"eps_low": EPS_LOW, "eps_high": EPS_HIGH},
    }, context)
    config = TrainConfig(global_batch_size=num_rows, micro_batch_size=num_rows // num_micro_batches,
                         aggregation=aggregation)

    result = run_optimizer_step(model, method, train_sequences(batch), config, DistInfo(),
                                batch.pad_token_id, max_length=MAX_COMPLETION_LENGTH)
    return result["loss"], gradients_of(model)


# --- tests --------------------------------------------------------------------------------------


def test_fixed_batch_clips_both_sides(batch):
    _, _, stats = harness_function_loss(batch, "token_mean")

    assert stats["clip_fraction_low"] > 0
    assert stats["clip_fraction_high"] > 0
    assert stats["clip_fraction"] < 1
    assert abs(float(stats["ratio_mean"]) - 1) > 1e-3


@pytest.mark.parametrize("loss_type", sorted(TRL_LOSS_TYPE_TO_AGGREGATION))
def test_composed_loss_matches_trl(batch, loss_type, tmp_path):
    expected_loss, expected_grads = trl_step(batch, loss_type, 1, tmp_path)

    loss, grads, _ = harness_function_loss(batch, TRL_LOSS_TYPE_TO_AGGREGATION[loss_type])

    assert loss == pytest.approx(expected_loss, abs=TOLERANCE)
    assert abs(expected_loss) > 1e-2
    assert_gradients_close(grads, expected_grads)


@pytest.mark.parametrize("num_micro_batches", [1, 2])
@pytest.mark.parametrize("loss_type", sorted(TRL_LOSS_TYPE_TO_AGGREGATION))
def test_training_step_matches_trl(batch, loss_type, num_micro_batches, tmp_path):
    expected_loss, expected_grads = trl_step(batch, loss_type, num_micro_batches, tmp_path)

    loss, grads = harness_step(batch, TRL_LOSS_TYPE_TO_AGGREGATION[loss_type], num_micro_batches, tmp_path)

    assert loss == pytest.approx(expected_loss, abs=TOLERANCE)
    assert_gradients_close(grads, expected_grads)


def test_other_aggregations_differ_from_trl(batch, tmp_path):
    # Two micro-batches with 13 and 3 tokens: every pair of modes gives a different loss,
    # so each match above singles out one aggregation mode.
    harness_losses = {
        aggregation: harness_step(batch, aggregation, 2, tmp_path)[0]
        for aggregation in TRL_LOSS_TYPE_TO_AGGREGATION.values()
    }
    for loss_type, matching in TRL_LOSS_TYPE_TO_AGGREGATION.items():
        trl_loss, _ = trl_step(batch, loss_type, 2, tmp_path)
        for aggregation, loss in harness_losses.items():
            if aggregation != matching:
                assert not math.isclose(loss, trl_loss, abs_tol=1e-3), (loss_type, aggregation)
