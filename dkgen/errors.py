"""User-facing errors.

Every error a user can cause (a bad file, a bad option, a model that does not fit) is a
`DkgenError`: the CLI prints its one-line message and exits with status 2, with no
traceback.  The message names the file, the field and the fix.
"""

from __future__ import annotations


class DkgenError(Exception):
    """An error in the user's input, reported as one line and exit status 2."""

    def __init__(self, message: str, *, path: object | None = None, field: str | None = None,
                 fix: str | None = None) -> None:
        self.path = path
        self.field = field
        self.fix = fix
        parts = []
        if path is not None:
            parts.append(str(path))
        if field:
            parts.append(field)
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text = f"{text} ({fix})"
        super().__init__(text.replace("\n", " "))


class ToolchainError(DkgenError):
    """A compiler or emulator the harness needs is missing or failed."""
