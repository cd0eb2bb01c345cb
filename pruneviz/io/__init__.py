"""Models and data in and out: the spec registries users type (``demo:cnn``, ``digits``, ``file:PATH``),
the demo models, and the file formats pruneviz reads and writes.

Importing the package registers the ``file:`` model scheme, which the format registry provides, and
the ``hf:`` scheme and ``demo:gpt`` of the language models.
"""

from pruneviz.io import formats as _formats  # noqa: F401 - registers the file: model scheme
from pruneviz.io import hf as _hf  # noqa: F401 - registers hf: and demo:gpt
