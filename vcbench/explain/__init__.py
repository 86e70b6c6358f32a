"""``vcbench explain``: where a detector looks (Grad-CAM maps per face and clip, strips of its most
and least fake clips) and, with ``--video``, the annotated score video with the call's events."""
from .config import ExplainConfig

__all__ = ["ExplainConfig", "explain"]


def explain(cfg, echo=print):
    """:func:`vcbench.explain.run.explain` (imported on first use: the package's config is read
    when the CLI is built, its numpy and models only when something is explained)."""
    from .run import explain as run

    return run(cfg, echo=echo)
