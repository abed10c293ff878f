"""Exceptions that metasuite raises for bad input. Each message says what to do about it."""

__all__ = ["CheckpointError", "DataError", "MetasuiteError", "TaskError", "UnknownNameError"]


class MetasuiteError(Exception):
    """Base class of every error metasuite raises on purpose."""


class TaskError(MetasuiteError, ValueError):
    """A task or task batch has inconsistent shapes, labels or values."""


class CheckpointError(MetasuiteError):
    """A checkpoint file is missing, truncated, corrupted or does not match the model."""


class UnknownNameError(MetasuiteError, KeyError):
    """An unknown algorithm, backbone, domain or benchmark name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes
        return str(self.args[0]) if self.args else ""


class DataError(MetasuiteError, ValueError):
    """Input data (files, arrays, records) is missing or unusable."""
