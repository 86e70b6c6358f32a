"""Which frame's detection a live face swapper pastes onto frame ``i`` (``--timing``).

Deep-Live-Cam never swaps a frame with its own fresh detection in its default paths, and the lag
is a temporal artefact a detector can learn (the pasted face trails a moving head):

- ``live`` (its webcam loop, ``ui.py``): detection runs on every ``n = max(1, round(0.08 x fps))``-th
  frame (the ``n``-th, ``2n``-th, ... counting from 1) and is reused until the next one; frames
  before the first detection go out unswapped. At 30 fps ``n = 2``; at 15 fps every frame detects.
- ``video`` (its in-memory file pipeline, ``processors/frame/core.py``): frame ``i`` is swapped with
  the face detected on frame ``i - 1`` (the detection of a frame is started while the previous one
  is swapped); frame 0 detects synchronously. With many faces (``--select all``) it pipelines
  nothing, so every frame uses its own detection.
- ``exact``: every frame with its own detection (what an offline swapper does).
"""
from __future__ import annotations

import typing
from typing import Literal

Timing = Literal["live", "video", "exact"]
TIMINGS = typing.get_args(Timing)


def live_interval(fps: float) -> int:
    """Frames between two detections in Deep-Live-Cam's live loop."""
    return max(1, int(round(fps * 0.08)))


def detection_frame(i: int, timing: str, fps: float, select: str = "leftmost") -> int:
    """The frame whose detection is pasted onto frame ``i``; -1 means none yet (left unswapped)."""
    if timing == "exact" or (timing == "video" and select == "all"):
        return i
    if timing == "video":
        return max(i - 1, 0)
    if timing == "live":
        n = live_interval(fps)
        return (i + 1) // n * n - 1
    raise ValueError(f"timing must be one of {', '.join(TIMINGS)}, got {timing!r}")


def timed_faces(per_frame: list, timing: str, fps: float, select: str = "leftmost") -> list:
    """``per_frame`` (each frame's own detections) as the swapper receives them under ``timing``."""
    out = []
    for i in range(len(per_frame)):
        j = detection_frame(i, timing, fps, select)
        out.append(per_frame[j] if j >= 0 else [])
    return out
