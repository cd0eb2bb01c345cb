"""Continue a prompt with the dense and the pruned language model side by side: what a workshop wants
to see when perplexity rises. Greedy decoding (always the most likely next token), so the same prompt
gives the same text every time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from pruneviz.core.errors import PrunevizError
from pruneviz.workflows.session import PruneSession

MAX_TOKENS = 512


@dataclass(frozen=True)
class Continuations:
    """The prompt and what each model added to it (text only, the prompt not repeated)."""

    prompt: str
    dense: str
    pruned: str


def continue_text(model: nn.Module, tokenizer, prompt: str, tokens: int) -> str:
    """Greedy continuation of ``prompt`` by ``tokens`` new tokens, decoded."""
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=model.device)
    with torch.inference_mode():
        out = model.generate(
            ids, max_new_tokens=tokens, do_sample=False, use_cache=True, pad_token_id=tokenizer.pad_token_id
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def side_by_side(session: PruneSession, prompt: str, tokens: int = 120) -> Continuations:
    """The dense model's and the session's pruned model's continuations of ``prompt``."""
    if not session.task.generates:
        raise PrunevizError(f"{session.model.spec} is not a language model: there is no text to continue")
    tokenizer = session.model.tokenizer
    if not prompt.strip():
        raise PrunevizError("give a prompt to continue")
    if not 1 <= tokens <= MAX_TOKENS:
        raise PrunevizError(f"tokens must be between 1 and {MAX_TOKENS}, got {tokens}")
    length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    limit = session.model.max_context
    if limit is not None and length + tokens > limit:
        raise PrunevizError(
            f"a prompt of {length} tokens plus {tokens} new ones exceeds the model's {limit} positions: "
            "shorten the prompt or ask for fewer tokens"
        )
    with session.calibration().exclusive() as dense_model:  # shared with the session's jobs
        dense = continue_text(dense_model, tokenizer, prompt, tokens)
    return Continuations(prompt, dense, continue_text(session.working, tokenizer, prompt, tokens))
