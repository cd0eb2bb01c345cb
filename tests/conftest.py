"""Shared fixtures: real demo models and the digits validation set (shipped, no downloads)."""

import os

import pytest
import torch
from hypothesis import settings

from pruneviz.io.data import load_data
from pruneviz.io.models import load_model
from pruneviz.workflows.session import PruneSession

# Fuzz tests draw the same examples every run: CI results must not depend on luck. (Explore new ones with
# `pytest tests/test_recipe_fuzz.py --hypothesis-seed=N`.)
settings.register_profile("pruneviz", derandomize=True)
settings.load_profile("pruneviz")


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def _own_room(tmp_path_factory):
    """Every dashboard the tests start (in process or as a server) uses a fresh room store, never the
    working copy's .pruneviz/room.sqlite."""
    os.environ["PRUNEVIZ_ROOM_DB"] = str(tmp_path_factory.mktemp("room") / "room.sqlite")


@pytest.fixture(scope="session", autouse=True)
def _own_timing_cache(tmp_path_factory):
    """Kernel timings the tests measure (CLI, pages, servers) are cached in a folder of their own, never
    in the user's ~/.cache/pruneviz."""
    os.environ["PRUNEVIZ_CACHE_DIR"] = str(tmp_path_factory.mktemp("timings"))


@pytest.fixture
def cnn_session() -> PruneSession:
    model = load_model("demo:cnn")
    return PruneSession(model, load_data(None, model))


@pytest.fixture
def resnet_session() -> PruneSession:
    model = load_model("demo:resnet")
    return PruneSession(model, load_data(None, model, limit=128))


def save_tiny_lm(path, config) -> str:
    """A tiny randomly initialised causal LM with the byte tokenizer, saved with save_pretrained."""
    from transformers import AutoModelForCausalLM, ByT5Tokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(path))
    ByT5Tokenizer().save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A 2-block Llama with grouped-query attention (4 query heads, 2 key/value heads), saved."""
    from transformers import LlamaConfig

    config = LlamaConfig(
        vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=False,
    )  # fmt: skip
    return save_tiny_lm(tmp_path_factory.mktemp("llama"), config)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    """A 2-block GPT-2 (Conv1D projections, head tied to the embeddings), saved."""
    from transformers import GPT2Config

    config = GPT2Config(vocab_size=384, n_positions=128, n_embd=64, n_layer=2, n_head=4)
    return save_tiny_lm(tmp_path_factory.mktemp("gpt2"), config)


def tiny_config(family: str):
    """A 2-block configuration of ``family`` (4 query heads; 2 key/value heads where the family groups
    them; MLP 128; the byte tokenizer's 384 ids)."""
    import transformers as T

    common = {"vocab_size": 384, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "max_position_embeddings": 128, "tie_word_embeddings": False}  # fmt: skip
    gqa = {"num_key_value_heads": 2, "intermediate_size": 128}
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    return {
        "llama": lambda: T.LlamaConfig(**common, **gqa),
        "qwen2": lambda: T.Qwen2Config(**common, **gqa),
        "mistral": lambda: T.MistralConfig(**common, **gqa),
        "gemma": lambda: T.GemmaConfig(**common, **gqa, head_dim=16),
        "phi3": lambda: T.Phi3Config(**common, **gqa, **ids),
        "gpt_neox": lambda: T.GPTNeoXConfig(**common, intermediate_size=128, **ids),
        "opt": lambda: T.OPTConfig(
            vocab_size=384,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            ffn_dim=128,
            max_position_embeddings=128,
            word_embed_proj_dim=64,
            **ids,
        ),
        "gpt2": lambda: T.GPT2Config(vocab_size=384, n_positions=128, n_embd=64, n_layer=2, n_head=4),
    }[family]()


FAMILY_NAMES = ("llama", "qwen2", "mistral", "gemma", "phi3", "gpt_neox", "opt", "gpt2")


@pytest.fixture(scope="session")
def tiny_families(tmp_path_factory) -> dict[str, str]:
    """Every family's tiny random model, saved with save_pretrained (and the byte tokenizer)."""
    return {f: save_tiny_lm(tmp_path_factory.mktemp(f), tiny_config(f)) for f in FAMILY_NAMES}
