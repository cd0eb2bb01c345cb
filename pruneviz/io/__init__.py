"""Models and data in and out: the spec registries users type (``demo:cnn``, ``digits``, ``file:PATH``),
the demo models, and the file formats pruneviz reads and writes.

Importing the package registers the ``file:`` model scheme, which the format registry provides.
"""

from pruneviz.io import formats as _formats  # noqa: F401 - registers the file: model scheme
