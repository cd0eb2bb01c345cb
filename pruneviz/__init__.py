"""pruneviz: see and choose how to prune a PyTorch model, layer by layer.

The engine is importable without Streamlit; the dashboard (``app.py``, ``pages/``) and the CLI
(:mod:`pruneviz.cli`) are thin shells over it.
"""

import logging

from pruneviz.core.errors import PrunevizError

# torchao 0.18 (imported by transformers and by pruneviz.core.quantize) logs deprecation notices from
# torch's pytree module on import; they say nothing to a pruneviz user.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

__all__ = ["PrunevizError"]
__version__ = "0.1.0"
