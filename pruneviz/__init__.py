"""pruneviz: see and choose how to prune a PyTorch model, layer by layer.

The engine is importable without Streamlit; the dashboard (``app.py``, ``pages/``) and the CLI
(:mod:`pruneviz.cli`) are thin shells over it.
"""

from pruneviz.core.errors import PrunevizError

__all__ = ["PrunevizError"]
__version__ = "0.1.0"
