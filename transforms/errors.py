"""Errors a user can fix. The CLI prints them as one line and exits 2 (no traceback)."""


class InputError(ValueError):
    """A whole-input problem: a missing file, a file without a required column, a bad flag value.

    The message names the file and, where it applies, the column.
    """
