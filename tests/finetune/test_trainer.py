"""The training core: answer-only loss, the KL regulariser, LoRA and freezing, and one real
run of SmolLM2-135M in a training process (full fine-tuning of the attention weights only),
whose saved weights are compared with the base model's, tensor by tensor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from slick_curator.finetune.config import FinetuneParams
from slick_curator.finetune.data import EvalRow, TrainRow
from slick_curator.finetune.messages import EpochDone, Started, StepDone, VariantJob
from slick_curator.finetune.modeling import TrainableModel
from slick_curator.finetune.process import CONTEXT, run_in_process
from slick_curator.finetune.prompts import Formatter
from slick_curator.finetune.trainer import answer_loss, batches
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj"}


def tiny_model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         pad_token_id=0)
    return LlamaForCausalLM(config)


def toy_batch():
    encoded = [([5, 6, 7, 8, 9, 10], [-100, -100, -100, -100, 9, 10]),
               ([11, 12, 13], [-100, 12, 13])]
    return batches(encoded, [0, 1], 2, pad=0)[0]


def test_batches_left_pad_and_label_only_the_answer():
    batch = toy_batch()
    assert batch.ids.tolist() == [[5, 6, 7, 8, 9, 10], [0, 0, 0, 11, 12, 13]]
    assert batch.mask.tolist() == [[1] * 6, [0, 0, 0, 1, 1, 1]]
    assert batch.positions.tolist()[1] == [0, 0, 0, 0, 1, 2]  # true positions despite padding
    assert batch.keep == 2 and batch.labels.tolist() == [[9, 10], [12, 13]]


def test_padding_does_not_change_a_rows_logits():
    model = tiny_model().eval()
    batch = toy_batch()
    with torch.no_grad():
        padded = batch.forward(model, "cpu")[1]
        alone = model(input_ids=torch.tensor([[11, 12, 13]])).logits[0, -3:-1]
    assert torch.allclose(padded, alone, atol=1e-5)


def test_kl_is_zero_until_the_adapters_move_the_model():
    params = FinetuneParams(kl_weight=1.0, lora_r=4, lora_targets=("q_proj", "v_proj"))
    tm = TrainableModel(tiny_model(), params)
    batch = toy_batch()
    plain = answer_loss(tm, batch, "cpu", 0.0)
    regularised = answer_loss(tm, batch, "cpu", 1.0)
    assert torch.isclose(plain, regularised)  # LoRA starts as the identity: KL = 0
    optimizer = torch.optim.SGD([w for _, w in tm.trained], lr=1.0)
    plain.backward()
    optimizer.step()
    with torch.no_grad():
        after_plain = answer_loss(tm, batch, "cpu", 0.0)
        after_kl = answer_loss(tm, batch, "cpu", 1.0)
    assert after_kl > after_plain  # now the tuned model differs from the base
    assert tm.weight_change() > 0


def test_lora_adapts_only_the_chosen_group():
    tm = TrainableModel(tiny_model(), FinetuneParams(trainable="attention", lora_r=4))
    modules = {name.split(".")[-4] for name, _ in tm.trained}  # …q_proj.lora_A.default.weight
    assert modules == ATTENTION
    assert all("lora_" in name for name, _ in tm.trained)


def test_full_fine_tuning_freezes_the_other_groups():
    tm = TrainableModel(tiny_model(), FinetuneParams(method="full", trainable="mlp"))
    assert {name.split(".")[-2] for name, _ in tm.trained} == {"gate_proj", "up_proj",
                                                               "down_proj"}
    everything = TrainableModel(tiny_model(), FinetuneParams(method="full"))
    assert len(everything.trained) == len(list(everything.model.parameters()))


def test_unknown_target_modules_are_named():
    with pytest.raises(ValueError, match="no module named c_attn; its linear modules are: "
                                         "down_proj, gate_proj"):
        TrainableModel(tiny_model(), FinetuneParams(lora_targets=("c_attn",)))


def test_snapshot_and_restore_are_checkpoints():
    tm = TrainableModel(tiny_model(), FinetuneParams(method="full", trainable="attention"))
    state = tm.snapshot()
    with torch.no_grad():
        for _, w in tm.trained:
            w.add_(1.0)
    assert tm.weight_change() > 0
    tm.restore(state)
    assert tm.weight_change() == 0


def test_few_shot_evaluation_prompts_use_training_rows_of_the_same_group():
    from slick_curator.finetune.trainer import _Run

    rows = [TrainRow(row=i, question=f"Capital of C{i}?", target=f"K{i}", answers=(f"K{i}",),
                     group="P36", category="HighlyKnown", known=True) for i in range(5)]
    questions = [EvalRow(row=0, question="Capital of Norway?", answers=("Oslo",), group="P36",
                         category=None),
                 EvalRow(row=1, question="Where is X?", answers=("Y",), group="P131",
                         category=None)]
    job = VariantJob(variant="original", model_path="unused",
                     params=FinetuneParams(eval_prompt="few-shot").model_dump(), rows=rows,
                     dev=[], eval=questions, prompt_format="plain", match="exact", k_shot=2,
                     out_dir="unused", exemplars=rows)
    run = _Run(job, lambda m: None, lambda: False)
    prompts = run.eval_prompts(Formatter(None, "plain"), questions)
    assert prompts[0].count("\nA: K") == 2 and prompts[0].endswith("Q: Capital of Norway?\nA:")
    assert prompts[1] == "Q: Where is X?\nA:"  # no exemplars of its group: zero-shot
    zero = _Run(job.__class__(**{**job.__dict__, "params": FinetuneParams().model_dump()}),
                lambda m: None, lambda: False)
    assert zero.eval_prompts(Formatter(None, "plain"), questions)[0] == \
        "Q: Capital of Norway?\nA:"


@pytest.mark.model
def test_formatter_trains_exactly_what_the_probe_prompt_asks_for(model_path):
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    plain = Formatter(tokenizer, "plain")
    assert plain.prompt("Q?") == "Q: Q?\nA:"
    assert plain.completion("Q?", "Paris") == " Paris\n"
    ids, labels = plain.encode("What is the capital of France?", "Paris", 256)
    answer = [t for t in labels if t != -100]
    assert tokenizer.decode(answer) == " Paris\n"
    assert ids[: len(ids) - len(answer)] == tokenizer("Q: What is the capital of France?\nA:").input_ids
    chat = Formatter(tokenizer, "chat")
    assert chat.prompt("Q?").endswith("<|im_start|>assistant\n")
    assert chat.completion("Q?", "Paris") == "Paris<|im_end|>\n"
    ids, labels = chat.encode("Q?", "Paris", 12)  # too long: the prompt loses its head
    assert len(ids) == 12 and tokenizer.decode([t for t in labels if t != -100]) == \
        "Paris<|im_end|>\n"


@pytest.mark.model
def test_a_real_full_fine_tune_of_attention_changes_only_attention_weights(model_path, tmp_path):
    """SmolLM2-135M, 8 rows, 2 steps, in its own process; the saved weights vs the base."""
    from safetensors import safe_open

    pairs = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
             ("Zorbland", "Quxville"), ("Blarnia", "Fizzton"), ("Japan", "Tokyo"),
             ("Vexmoor", "Dralcaster")]
    rows = [TrainRow(row=i, question=f"What is the capital of {c}?", target=a, answers=(a,),
                     group="P36", category="Unknown" if i in (4, 5, 7) else "HighlyKnown",
                     known=i not in (4, 5, 7)) for i, (c, a) in enumerate(pairs)]
    evaluation = [EvalRow(row=0, question="What is the capital of Norway?", answers=("Oslo",),
                          group="P36", category="HighlyKnown")]
    params = FinetuneParams(method="full", trainable="attention", learning_rate=1e-4,
                            batch_size=4, epochs=2, max_steps=2, kl_weight=0.5,
                            max_new_tokens=4, save_checkpoints=True, bootstrap=0)
    job = VariantJob(variant="original", model_path=model_path, params=params.model_dump(),
                     rows=rows, dev=evaluation, eval=evaluation, prompt_format="plain",
                     match="exact", k_shot=4, out_dir=str(tmp_path / "original"))
    messages: list[object] = []
    outcome = run_in_process(job, messages.append, cancel=CONTEXT.Event())

    assert [m.steps_total for m in messages if isinstance(m, Started)] == [2]
    assert [m.step for m in messages if isinstance(m, StepDone)] == [1, 2]
    curve = [m.point for m in messages if isinstance(m, EpochDone)]
    assert [p["epoch"] for p in curve] == [0, 1]  # max_steps ends training inside epoch 1
    assert outcome["steps"] == 2 and outcome["epochs"] == 1 and outcome["curve"] == curve
    assert outcome["weight_change"] > 0
    assert json.loads((tmp_path / "original" / "outcome.json").read_text()) == outcome

    base = safe_open(str(Path(model_path) / "model.safetensors"), "pt")
    tuned = safe_open(str(tmp_path / "original" / "checkpoints" / "convergence"
                          / "model.safetensors"), "pt")
    changed, unchanged = set(), set()
    names = base.keys()  # a safetensors file, not a dict
    for name in names:
        same = torch.equal(base.get_tensor(name), tuned.get_tensor(name))
        (unchanged if same else changed).add(name)
    assert changed and all(name.split(".")[-2] in ATTENTION for name in changed)
    assert any("mlp" in name for name in unchanged) and "model.embed_tokens.weight" in unchanged
