"""Errors a user can act on."""


class InputError(ValueError):
    """An input file or array cannot be used; the message names the file (or array) and the problem."""


class WorkerError(RuntimeError):
    """A helper process ended unexpectedly (``train.pair_workers``); the message says how to go on."""
