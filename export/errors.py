"""Exceptions raised by the export package."""

from __future__ import annotations


class ExportError(ValueError):
    """An export request cannot be carried out (bad argument, unusable model or input file)."""


class ParityError(ExportError):
    """An exported artifact does not reproduce the torch model within tolerance."""


class DownloadError(ExportError):
    """Weights could not be downloaded or the downloaded file is unusable."""
