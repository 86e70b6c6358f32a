"""One direction of a network path, packet by packet: loss, delay, jitter and a bandwidth cap.

Shared by the relay a real call goes through (:mod:`.webrtc.relay`, wall-clock times) and the
ffmpeg engine's model of a call (:mod:`.network`, simulated times), so both draw their loss from
the same process. Gilbert-Elliott loss per packet: a "bad" state that drops every packet, entered
so the long-run loss fraction is ``loss`` and left after ``burst_len`` packets on average. A
one-way delay with uniform jitter (packets never reorder: a packet leaves no earlier than the one
before it), and a bandwidth cap (token bucket at ``cap_kbps`` with a drop-tail queue of
``queue_ms`` at that rate) that can step to another rate at a set time. Seeded.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinkModel:
    loss: float = 0.0            # long-run packet loss fraction
    burst_len: float = 1.0       # mean packets lost in a row
    delay_ms: float = 0.0        # one way
    jitter_ms: float = 0.0       # uniform +- around the delay
    cap_kbps: float = 0.0        # 0: unlimited
    queue_ms: float = 300.0      # drop-tail queue at the cap's rate
    steps: tuple[tuple[float, float], ...] = ()   # (seconds from start, new cap_kbps)


@dataclass
class LinkCounts:
    packets: int = 0
    bytes: int = 0
    lost: int = 0
    queue_drops: int = 0
    forwarded: int = 0
    max_queue_ms: float = 0.0
    extra: dict = field(default_factory=dict)


class Link:
    """One direction: decides each packet's fate and its departure time."""

    def __init__(self, model: LinkModel, seed: int, t0: float = 0.0):
        self.m = model
        self.rng = random.Random(seed)
        self.bad = False
        self.counts = LinkCounts()
        self.t0 = t0                 # the clock's reading at the start (steps count from it)
        self.busy_until = 0.0        # when the cap's "wire" is free again
        self.last_departure = 0.0

    def _lost(self) -> bool:
        m = self.m
        if m.loss <= 0:
            return False
        leave = 1.0 / max(m.burst_len, 1.0)                    # P(bad -> good)
        enter = m.loss * leave / max(1e-9, 1.0 - m.loss)        # P(good -> bad): stationary loss = m.loss
        if self.bad:
            self.bad = self.rng.random() >= leave
        else:
            self.bad = self.rng.random() < min(1.0, enter)
        return self.bad

    def cap_at(self, now: float) -> float:
        cap = self.m.cap_kbps
        for at, kbps in self.m.steps:
            if now - self.t0 >= at:
                cap = kbps
        return cap

    def admit(self, size: int, now: float) -> float | None:
        """The departure time of a packet of ``size`` bytes arriving ``now``, or None (dropped)."""
        c = self.counts
        c.packets += 1
        c.bytes += size
        jitter = self.rng.uniform(-self.m.jitter_ms, self.m.jitter_ms) if self.m.jitter_ms else 0.0
        if self._lost():
            c.lost += 1
            return None
        start = now
        cap = self.cap_at(now)
        if cap > 0:
            backlog = max(0.0, self.busy_until - now)
            if backlog * 1000.0 > self.m.queue_ms:
                c.queue_drops += 1
                return None
            c.max_queue_ms = max(c.max_queue_ms, backlog * 1000.0)
            start = max(now, self.busy_until)
            self.busy_until = start + size * 8 / (cap * 1000.0)
            start = self.busy_until
        due = max(start + max(0.0, self.m.delay_ms + jitter) / 1000.0, self.last_departure)
        self.last_departure = due
        c.forwarded += 1
        return due


def link_models(p) -> tuple[LinkModel, LinkModel]:
    """A preset's path as (media direction, feedback direction). Loss hits both directions (a
    lost NACK or receiver report is part of a bad path too); the delay is half the RTT each way;
    ``cap_kbps`` and a bandwidth step (``bwe_kbps`` from ``bwe_step_s``) cap the media direction."""
    delay = p.rtt_ms / 2.0 if (p.loss or p.jitter_ms or p.cap_kbps or p.bwe_step_s) else 0.0
    steps = ((p.bwe_step_s, float(p.bwe_kbps)),) if p.bwe_step_s and p.bwe_kbps else ()
    up = LinkModel(loss=p.loss, burst_len=p.burst_len, delay_ms=delay, jitter_ms=p.jitter_ms,
                   cap_kbps=float(p.cap_kbps), steps=steps)
    down = LinkModel(loss=p.loss, burst_len=p.burst_len, delay_ms=delay, jitter_ms=p.jitter_ms)
    return up, down
