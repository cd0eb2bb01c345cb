"""The one exception type that carries a user-facing message.

Anything the user can cause (a wrong spec, a missing file, a bad recipe) is raised as
:class:`PrunevizError` with a single readable line; the CLI prints it and exits 2, the
dashboard shows it with ``st.error`` and keeps the session. Any other exception is a bug.
"""


class PrunevizError(Exception):
    """A problem with the user's input, worded so the user can fix it."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): third-party errors
    quoted inside one-line pruneviz messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
