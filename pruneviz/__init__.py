"""pruneviz: see and choose how to prune a PyTorch model, layer by layer.

>>> import pruneviz
>>> s = pruneviz.open("demo:cnn")
>>> s.prune(0.5).report()["accuracy"]

:func:`pruneviz.open` and :class:`pruneviz.Session` (:mod:`pruneviz.api`) are the public Python API; they
are imported on first use, so ``import pruneviz`` alone loads neither torch nor Streamlit. The engine
underneath is importable without Streamlit; the dashboard (``app.py``, ``pages/``) and the CLI
(:mod:`pruneviz.cli`) are thin shells over it.
"""

import logging
from importlib import import_module
from typing import TYPE_CHECKING

from pruneviz.core.errors import PrunevizError

if TYPE_CHECKING:
    from pruneviz.api import Session, open

# torchao 0.18 (imported by transformers and by pruneviz.core.quantize) logs deprecation notices from
# torch's pytree module on import; they say nothing to a pruneviz user.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

__all__ = ["PrunevizError", "Session", "open"]
__version__ = "0.1.0"
_API = ("Session", "open")


def __getattr__(name: str):
    """``pruneviz.open`` and ``pruneviz.Session`` import the API (and torch) when first asked for."""
    if name in _API:
        return getattr(import_module("pruneviz.api"), name)
    raise AttributeError(f"module 'pruneviz' has no attribute {name!r}")
