import math

import pytest
import torch
import torch.nn.functional as F

from pruneviz.io.data import DataOptions
from pruneviz.io.models import load_model
from pruneviz.tasks import LANGUAGE_MODELLING, task_of
from pruneviz.tasks.language import logits


@pytest.fixture(scope="module")
def llama(tiny_llama):
    model = load_model(f"hf:{tiny_llama}")
    return model, LANGUAGE_MODELLING.load_data(None, model, DataOptions(limit=6, context=32))


def test_perplexity_equals_a_reference_computed_from_the_logits(llama):
    model, data = llama
    task = task_of(model)
    assert task is LANGUAGE_MODELLING and task.metric.key == "perplexity" and not task.metric.higher_is_better
    figures = task.figures(task.outputs(model.module, data.x), data.y)
    with torch.no_grad():
        scores = logits(model.module, data.x)[:, :-1]
    targets = data.x[:, 1:]
    nll = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))  # mean over tokens
    assert figures["loss"] == pytest.approx(nll.item(), rel=1e-5)
    assert figures["perplexity"] == pytest.approx(math.exp(nll.item()), rel=1e-5)
    accuracy = (scores.argmax(-1) == targets).float().mean().item()
    assert figures["accuracy"] == pytest.approx(accuracy)
    assert task.batch_loss(model.module, data.x, data.y).item() == pytest.approx(nll.item(), rel=1e-5)


def test_outputs_stay_small_however_large_the_vocabulary(llama):
    model, data = llama
    outputs = LANGUAGE_MODELLING.outputs(model.module, data.x)
    assert outputs.shape == (6, 3) and (outputs[:, 2] == 31).all()  # per window: nll, correct, 31 tokens


def test_a_language_model_prunes_the_projections_in_its_blocks(tiny_llama, tiny_gpt2):
    from pruneviz.workflows.session import open_session

    llama = open_session(f"hf:{tiny_llama}", device="cpu")
    assert len(llama.layer_names) == 2 * 7 and "lm_head" not in llama.layer_names
    assert "lm_head" in open_session(f"hf:{tiny_llama}", device="cpu", extra_layers=("lm_head",)).layer_names
    gpt2 = open_session(f"hf:{tiny_gpt2}", device="cpu")  # Conv1D held as Linear; its head is tied
    assert gpt2.layer_names == [f"transformer.h.{i}.{p}" for i in (0, 1) for p in (
        "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"
    )]  # fmt: skip
