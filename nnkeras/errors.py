"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class NNKerasError(Exception):
    """Bad input: the message names the problem and the fix."""


class ConfigError(NNKerasError):
    """An experiment setting that is unknown, of the wrong type or out of range."""


class DataError(NNKerasError):
    """A dataset that cannot be loaded: missing, truncated or inconsistent files."""
