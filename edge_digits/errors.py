"""One error type for everything a user can get wrong, so the CLI can print it as one line."""


class EdgeDigitsError(Exception):
    """A problem with the user's input, files or environment; its message says what to do."""
