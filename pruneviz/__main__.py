"""``python -m pruneviz`` is the same as the ``pruneviz`` command."""

from pruneviz.cli import main

raise SystemExit(main())
