"""vs-colorize: DeOldify-style colorization and 3-frame microscopy super-resolution for VapourSynth.

Importing this package loads only vapoursynth and numpy; inference backends (onnxruntime, TensorRT,
torch, vs-mlrt) are imported the first time they are used.
"""

from ._version import __version__
from .colorize import colorize
from .superres import superres

__all__ = ["__version__", "colorize", "superres"]
