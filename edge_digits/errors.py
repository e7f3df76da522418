"""One error type for everything a user can get wrong, so the CLI can print it as one line."""

from __future__ import annotations


class EdgeDigitsError(Exception):
    """A problem with the user's input, files or environment; its message says what to do."""


def error_line(error: BaseException, last: bool = False, limit: int = 300) -> str:
    """One line of a library's multi-line error message: the first, or the last where the cause sits
    at the end (OpenCV's messages put it there); the exception's type name when it has no text."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return error.__class__.__name__
    return lines[-1 if last else 0].strip()[:limit]


def describe(error: BaseException) -> str:
    """One line for any error: our own messages as they are, others prefixed with their type."""
    text = " ".join(str(error).split())
    if isinstance(error, EdgeDigitsError):
        return text
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return f"{error.__class__.__name__}: {text or 'no details'} (rerun with --debug for the traceback)"

