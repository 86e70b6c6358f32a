"""vcbench: deepfake detection under video-call conditions.

Stages (each a subpackage and a CLI command): generate -> finetune -> benchmark -> report.
Importing this package is cheap: heavy libraries (torch, cv2, mediapipe) load on first use.
The library API (:mod:`vcbench.api`) is what the CLI calls: ``vcbench.load_detector``,
``vcbench.score``, ``vcbench.benchmark``, ``vcbench.simulate``.
"""
__version__ = "0.1.0"

_API = ("load_detector", "score", "benchmark", "simulate", "BenchmarkRun")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    """The API's functions, imported when first asked for (``import vcbench`` imports no torch)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vcbench' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
