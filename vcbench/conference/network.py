"""Network stage: bursty loss rendered as WebRTC shows it (freeze, then a fresh keyframe).

Loss is a seeded Gilbert-Elliott chain over sent frames: in the bad state a frame is lost.
A loss freezes the picture (the last good frame is held) for RTT + 200 ms, the time a receiver
needs to notice, request a keyframe and get it; the sender then encodes a keyframe. Decoder
error concealment (smearing) is deliberately not simulated: calls freeze instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class FramePlan:
    """For each output frame: which captured frame to encode (frozen frames repeat the last
    good one), and where keyframes are forced."""

    source: list[int]
    keyframes: list[int] = field(default_factory=list)
    freezes: list[tuple[int, int]] = field(default_factory=list)   # (first frame, length)

    @property
    def frozen(self) -> list[bool]:
        """Frame j is frozen when it shows an earlier captured frame."""
        return [s != j for j, s in enumerate(self.source)]


def gilbert_elliott(n: int, loss: float, burst_len: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean loss mask with mean loss rate ``loss`` and mean burst length ``burst_len``."""
    if loss <= 0 or n == 0:
        return np.zeros(n, bool)
    p_bg = 1.0 / max(burst_len, 1.0)             # leave the bad state
    p_gb = loss * p_bg / (1.0 - loss)            # stationary bad-state probability = loss
    out = np.zeros(n, bool)
    bad = rng.random() < loss
    for i in range(n):
        out[i] = bad
        bad = (rng.random() >= p_bg) if bad else (rng.random() < p_gb)
    return out


def min_frames(fps: float, rtt_ms: float) -> int:
    """Shortest video the loss model can render: a freeze plus a second of recovery."""
    return freeze_frames(fps, rtt_ms) + int(math.ceil(fps))


def freeze_frames(fps: float, rtt_ms: float) -> int:
    return max(1, int(math.ceil((rtt_ms + 200.0) / 1000.0 * fps)))


def plan_frames(n: int, fps: float, loss: float, burst_len: float, rtt_ms: float, seed: int) -> FramePlan:
    """Frame 0 is always a keyframe and never lost (the call is established first)."""
    rng = np.random.default_rng(seed)
    lost = gilbert_elliott(n, loss, burst_len, rng)
    lost[0] = False
    hold = freeze_frames(fps, rtt_ms)
    source, keyframes, freezes = [], [0], []
    last_good, i = 0, 0
    while i < n:
        if lost[i]:
            end = i + hold
            while end < n and lost[end]:      # a loss during recovery extends the freeze
                end += 1
            end = min(end, n)
            freezes.append((i, end - i))
            source += [last_good] * (end - i)
            if end < n:
                keyframes.append(end)
            i = end
            continue
        source.append(i)
        last_good = i
        i += 1
    return FramePlan(source, keyframes, freezes)
