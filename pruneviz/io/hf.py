"""Hugging Face causal language models: ``hf:PATH`` (a ``save_pretrained`` directory or a name in the
local cache), the shipped ``demo:gpt``, and the ``hf`` export format that plain ``transformers`` loads.

GPT-2 stores its projections as ``Conv1D`` modules, whose weight is the transpose of a Linear's
(inputs × outputs). On load they become :class:`Conv1DLinear` modules (the same maths, weights
(outputs × inputs)), so every mask rule — N:M groups along the inputs, filters along the outputs —
reads them the way it reads any Linear; an ``hf`` export turns them back into ``Conv1D``.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError, first_line
from pruneviz.io.demo import ASSETS
from pruneviz.io.models import DEMO_MODELS, MODEL_SCHEMES, LoadedModel, ModelOptions

LANGUAGE_MODELLING = "language-modelling"
META_FILE = "pruneviz.json"
DEFAULT_TEXT = "text:pydoc"
DEMO_GPT = ASSETS / "demo_gpt"


class Conv1DLinear(nn.Linear):
    """A GPT-2 ``Conv1D`` held as a Linear (weight outputs × inputs); :func:`to_conv1d` undoes it."""


def from_conv1d(model: nn.Module) -> nn.Module:
    """Replace every ``Conv1D`` in ``model`` (in place) by an equivalent :class:`Conv1DLinear`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "Conv1D":
                linear = Conv1DLinear(
                    child.nx, child.nf, device=child.weight.device, dtype=child.weight.dtype
                )
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
    return model


def to_conv1d(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`Conv1DLinear` back as the ``Conv1D`` transformers expects."""
    from transformers.pytorch_utils import Conv1D

    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1DLinear):
                conv = Conv1D(child.out_features, child.in_features)
                with torch.no_grad():
                    conv.weight.copy_(child.weight.t())
                    conv.bias.copy_(child.bias)
                setattr(parent, name, conv)
    return model


def load_hf(name: str, options: ModelOptions, spec: str | None = None) -> LoadedModel:
    """A causal LM and its tokenizer from a ``save_pretrained`` directory or the local cache."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(name)
    local = not options.allow_download
    if not path.is_dir() and (path.is_absolute() or name.startswith(".")):
        raise PrunevizError(f"hf model directory not found: {path}")
    quiet(transformers)
    try:
        config = AutoConfig.from_pretrained(name, local_files_only=local)
    except (OSError, ValueError, KeyError) as err:
        if not path.is_dir():
            raise PrunevizError(
                f"hf model '{name}' is neither a directory nor in the local Hugging Face cache "
                "(the command line's --allow-download fetches it from the hub; the dashboard never downloads)"
            ) from None
        raise PrunevizError(f"hf:{name}: transformers cannot read its config: {first_line(err)}") from None
    tokenizer = load_tokenizer(name, local, transformers)
    try:
        module = AutoModelForCausalLM.from_pretrained(name, local_files_only=local, dtype=load_dtype(options))
    except ValueError as err:  # an architecture transformers has no causal-LM class for
        raise PrunevizError(
            f"hf:{name}: not a causal language model transformers knows: {first_line(err)}"
        ) from None
    except OSError as err:
        raise PrunevizError(f"hf:{name}: cannot load the weights: {first_line(err)}") from None
    module.config.use_cache = False
    meta = _read_meta(path)
    return LoadedModel(
        from_conv1d(module).eval(),
        spec or f"hf:{name}",
        num_classes=config.vocab_size,
        default_data=meta.get("data_spec") or DEFAULT_TEXT,
        arch_spec=spec or f"hf:{name}",
        task=LANGUAGE_MODELLING,
        tokenizer=tokenizer,
        max_context=_max_positions(config),
    )


DTYPES = ("float32", "bfloat16", "float16", "auto")


def load_dtype(options: ModelOptions) -> torch.dtype | str:
    """The dtype weights load in: float32 unless the options name another (``auto``: the checkpoint's)."""
    name = options.dtype or "float32"
    if name not in DTYPES:
        raise PrunevizError(f"--dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    return name if name == "auto" else getattr(torch, name)


def load_tokenizer(name: str, local: bool, transformers: Any) -> Any:
    """The tokenizer saved with the model: the class its ``tokenizer_config.json`` names when
    ``AutoTokenizer`` picks another (transformers 5 loads a saved ByT5Tokenizer beside a Qwen2 config as
    an empty Qwen2Tokenizer), refused when it turns text into no tokens."""
    from transformers import AutoTokenizer

    named = _tokenizer_class(Path(name))
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        tokenizer, failure = None, err
    if named and type(tokenizer).__name__ != named and isinstance(getattr(transformers, named, None), type):
        try:
            tokenizer = getattr(transformers, named).from_pretrained(name, local_files_only=local)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            failure = err
    if tokenizer is None:
        raise PrunevizError(
            f"hf:{name} has no usable tokenizer (save one beside the model with tokenizer.save_pretrained): "
            f"{first_line(failure)}"
        )
    if not tokenizer("The for statement", add_special_tokens=False)["input_ids"]:
        raise PrunevizError(
            f"hf:{name}: its tokenizer ({type(tokenizer).__name__}) turns text into no tokens at all: a "
            "tokenizer problem (save the model's own tokenizer beside it with tokenizer.save_pretrained)"
        )
    return tokenizer


def _tokenizer_class(path: Path) -> str | None:
    """The tokenizer class a saved directory's ``tokenizer_config.json`` names, if any."""
    try:
        found = json.loads((path / "tokenizer_config.json").read_text()).get("tokenizer_class")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def quiet(transformers: Any) -> None:
    """No progress bars or notices on stdout: the CLI's output is the user's, --json must stay JSON."""
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _max_positions(config: Any) -> int | None:
    for key in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def _read_meta(path: Path) -> dict:
    """What the directory's ``pruneviz.json`` says (the data it was measured on), or ``{}``."""
    meta = path / META_FILE
    if not meta.is_file():
        return {}
    try:
        found = json.loads(meta.read_text())
    except (ValueError, UnicodeDecodeError, OSError):
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("data_spec") or "", str):
        raise PrunevizError(f"{meta} is not pruneviz's metadata (a JSON object naming a data_spec)")
    return found


@MODEL_SCHEMES.register("hf")
def _hf(rest: str, options: ModelOptions) -> LoadedModel:
    return load_hf(rest, options)


@DEMO_MODELS.register("gpt")
def _demo_gpt(options: ModelOptions) -> LoadedModel:
    if not (DEMO_GPT / "config.json").is_file():
        raise PrunevizError(
            f"the demo language model is missing from {DEMO_GPT}; run `pruneviz train-demo --models gpt`"
        )
    return load_hf(str(DEMO_GPT), options, spec="demo:gpt")


def is_hf_directory(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def save_hf(module: nn.Module, tokenizer: Any, path: Path, data_spec: str | None) -> Path:
    """Write ``module`` (its current weights, Conv1D layouts restored) and ``tokenizer`` as a
    ``save_pretrained`` directory that plain ``transformers`` loads, noting the data it was measured on."""
    if not hasattr(module, "save_pretrained"):
        raise PrunevizError("format hf needs a Hugging Face model (hf: or demo:gpt)")
    import transformers

    quiet(transformers)
    path.mkdir(parents=True, exist_ok=True)
    to_conv1d(module).save_pretrained(str(path))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))
    (path / META_FILE).write_text(json.dumps({"data_spec": data_spec}))
    return path
