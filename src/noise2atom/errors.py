"""Errors a user can act on."""


class InputError(ValueError):
    """An input file or array cannot be used; the message names the file (or array) and the problem."""
