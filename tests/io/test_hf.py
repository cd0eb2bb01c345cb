"""Hugging Face causal LMs: loading (Llama with grouped-query attention, GPT-2's Conv1D), round trips
through the hf format in plain transformers, and the errors a user can cause."""

import subprocess
import sys

import pytest
import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.formats import ExportMeta, export_model
from pruneviz.io.hf import Conv1DLinear
from pruneviz.io.models import ModelOptions, load_model
from pruneviz.tasks.language import logits


def test_a_llama_directory_loads_with_its_tokenizer_and_task(tiny_llama):
    loaded = load_model(f"hf:{tiny_llama}")
    assert loaded.task == "language-modelling" and loaded.max_context == 128
    assert loaded.tokenizer("ab", add_special_tokens=False)["input_ids"] == [100, 101]  # bytes + 3
    assert loaded.default_data == "text:pydoc"
    assert loaded.module.config.num_key_value_heads == 2


def test_gpt2_conv1d_becomes_a_linear_with_the_same_outputs(tiny_gpt2):
    from transformers import AutoModelForCausalLM

    loaded = load_model(f"hf:{tiny_gpt2}")
    plain = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    c_attn = loaded.module.transformer.h[0].attn.c_attn
    assert isinstance(c_attn, Conv1DLinear) and c_attn.weight.shape == (192, 64)  # outputs x inputs
    assert torch.equal(c_attn.weight, plain.transformer.h[0].attn.c_attn.weight.t())
    x = torch.randint(0, 384, (2, 16))
    with torch.no_grad():
        assert torch.allclose(logits(loaded.module, x), logits(plain, x), atol=1e-5)


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_hf_export_reloads_in_plain_transformers_with_the_same_logits(fixture, request, tmp_path):
    """save → load back in a process that imports only transformers → same logits, pruned weights kept."""
    loaded = load_model(f"hf:{request.getfixturevalue(fixture)}")
    module = next(m for n, m in loaded.module.named_modules() if "mlp" in n and hasattr(m, "weight"))
    with torch.no_grad():
        module.weight[:, ::2] = 0  # as a mask would
    out = tmp_path / "export"
    export_model(
        loaded.module, out, "hf", ExportMeta(loaded.spec, "text:pydoc", (16,), tokenizer=loaded.tokenizer)
    )
    x = torch.randint(0, 384, (2, 16))
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        torch.save(logits(loaded.module, x), tmp_path / "expected.pt")
    script = f"""
import torch, transformers
model = transformers.AutoModelForCausalLM.from_pretrained({str(out)!r}).eval()
tokenizer = transformers.AutoTokenizer.from_pretrained({str(out)!r})
x = torch.load({str(tmp_path / "x.pt")!r})
with torch.no_grad():
    got = model(input_ids=x).logits
diff = (got - torch.load({str(tmp_path / "expected.pt")!r})).abs().max().item()
print(diff, tokenizer("ab", add_special_tokens=False)["input_ids"])
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    diff, ids = proc.stdout.split(maxsplit=1)
    assert float(diff) <= 1e-5 and ids.strip() == "[100, 101]"
    reloaded = load_model(f"file:{out}")  # pruneviz itself reads the directory back as well
    assert reloaded.task == "language-modelling" and reloaded.default_data == "text:pydoc"


def test_errors_are_one_clear_line(tmp_path):
    with pytest.raises(PrunevizError, match="hf model directory not found"):
        load_model(f"hf:{tmp_path / 'missing'}")
    with pytest.raises(PrunevizError, match="neither a directory nor in the local Hugging Face cache"):
        load_model("hf:no-such-org/no-such-model-xyz", ModelOptions())
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrunevizError, match="cannot read its config"):
        load_model(f"hf:{tmp_path / 'empty'}")


def test_a_directory_without_tokenizer_or_with_an_unknown_architecture(tiny_llama, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_llama, bare)
    for f in bare.iterdir():
        if "token" in f.name or f.name == "special_tokens_map.json":
            f.unlink()
    with pytest.raises(PrunevizError, match="has no usable tokenizer"):
        load_model(f"hf:{bare}")
    odd = tmp_path / "odd"
    shutil.copytree(tiny_llama, odd)
    config = (
        (odd / "config.json").read_text().replace('"model_type": "llama"', '"model_type": "no-such-arch"')
    )
    (odd / "config.json").write_text(config)
    with pytest.raises(PrunevizError, match=r"hf:.*odd"):
        load_model(f"hf:{odd}")
