"""Errors mlcore raises for bad input; each carries a message fit to show a user."""


class ImageError(ValueError):
    """An image could not be read or decoded."""


class DataError(ValueError):
    """A dataset directory or its metadata is unusable."""


class ModelError(RuntimeError):
    """A model directory is missing, incomplete or incompatible."""
