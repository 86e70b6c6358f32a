"""``vcbench explain``: where a detector looks (Grad-CAM maps per face and clip, strips of its most
and least fake clips) and, with ``--video``, the annotated score video with the call's events."""
from .config import ExplainConfig
from .run import explain

__all__ = ["ExplainConfig", "explain"]
