"""Text for language models: ``text:pydoc`` (the Python standard library's documentation topics, on
every machine) or ``text:PATH`` (a UTF-8 file), tokenized by the model's own tokenizer and cut into
windows of ``context`` tokens.

The text is split by position: the first 90% is the training part (fine-tuning, and the calibration
windows Wanda and SparseGPT look at), the last 10% the validation part (perplexity). Calibration never
sees a validation window.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from pruneviz.core.errors import PrunevizError
from pruneviz.io.data import SEED, DataOptions, DataSet, data_spec
from pruneviz.io.models import LoadedModel

TRAIN_SHARE = 0.9
DEFAULT_CONTEXT = 128  # tokens per window, unless the model allows fewer
DEFAULT_WINDOWS = 64  # validation windows evaluated live unless --limit says otherwise
DEFAULT_CALIBRATION = 128  # calibration windows


def pydoc_text() -> str:
    """The standard library's documentation topics (~465 k characters of English), in a fixed order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def read_text(spec: str) -> str:
    """The text a ``text:`` spec names: ``pydoc`` or a UTF-8 file."""
    scheme, _, rest = spec.partition(":")
    if scheme != "text" or not rest:
        raise PrunevizError(f"a language model reads text: 'text:pydoc' or 'text:PATH', got '{spec}'")
    if rest == "pydoc":
        return pydoc_text()
    path = Path(rest)
    if not path.is_file():
        raise PrunevizError(f"text file not found: {path}")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise PrunevizError(f"{path} is binary, not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PrunevizError(f"{path} is not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise PrunevizError(f"{path} is empty")
    return text


@lru_cache(maxsize=8)
def _tokens(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)


def tokens(model: LoadedModel, text: str) -> torch.Tensor:
    """``text`` as one long tensor of token ids (cached per tokenizer and text)."""
    if model.tokenizer is None:
        raise PrunevizError(f"model {model.spec} has no tokenizer, so it cannot read text")
    return _tokens(model.tokenizer, text)


def context_of(model: LoadedModel, options: DataOptions) -> int:
    """Window length in tokens: ``options.context``, else min(the model's maximum, 128)."""
    limit = model.max_context or DEFAULT_CONTEXT
    context = options.context or min(limit, DEFAULT_CONTEXT)
    if not 2 <= context <= limit:
        raise PrunevizError(f"--context must be between 2 and the model's {limit} tokens, got {context}")
    return context


def windows(ids: torch.Tensor, context: int) -> torch.Tensor:
    """Consecutive, non-overlapping windows (N, context) of a token stream (the tail is dropped)."""
    n = len(ids) // context
    return ids[: n * context].view(n, context)


def load_text(
    spec: str | None, model: LoadedModel, options: DataOptions, *, train: bool = False, device="cpu"
) -> DataSet:
    """Validation windows (or, with ``train``, every training window) of the text ``spec`` names,
    with calibration windows from the training part."""
    spec = data_spec(spec, model, options.gate) or "text:pydoc"
    ids = tokens(model, read_text(spec))
    context = context_of(model, options)
    cut = int(TRAIN_SHARE * len(ids))
    train_ids, val_ids = ids[:cut], ids[cut:]
    if len(val_ids) < context or len(train_ids) < context:
        raise PrunevizError(
            f"{spec} is too short: {len(ids)} tokens give no {context}-token window in its validation "
            f"(last 10%) or training part; use a longer text or a shorter --context"
        )
    x = windows(train_ids if train else val_ids, context)
    limit = options.limit if options.limit is not None else (None if train else DEFAULT_WINDOWS)
    if limit is not None:
        if limit < 1:
            raise PrunevizError(f"--limit must be a positive number of windows, got {limit}")
        if limit < len(x):
            keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED))[:limit]
            x = x[keep.sort().values]
    cal = calibration_windows(train_ids, context, options.calibration or DEFAULT_CALIBRATION)
    return DataSet(
        x.to(device), x.to(device), spec, model.num_classes or 0, calibration=(cal.to(device), cal.to(device))
    )


def calibration_windows(train_ids: torch.Tensor, context: int, count: int) -> torch.Tensor:
    """``count`` windows at seeded random offsets in the training part (as Wanda and SparseGPT draw
    their calibration segments)."""
    if count < 1:
        raise PrunevizError(f"--calibration must be a positive number of windows, got {count}")
    starts = torch.randint(
        0, len(train_ids) - context + 1, (count,), generator=torch.Generator().manual_seed(SEED)
    )
    return torch.stack([train_ids[s : s + context] for s in starts.tolist()])
