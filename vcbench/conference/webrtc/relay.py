"""A packet-level network emulator between two WebRTC peers on 127.0.0.1.

Each peer is told the other lives at one of the relay's two UDP sockets (its ICE candidate's port
is rewritten), so every packet crosses the relay, which forwards it out of the other socket:

    peer 1 --> socket A ==(uplink model)==> socket B --> peer 2
    peer 1 <-- socket A <==(downlink model)== socket B <-- peer 2

Per direction: Gilbert-Elliott loss per packet (a "bad" state that drops every packet, entered so
the long-run loss fraction is ``loss`` and left after ``burst_len`` packets on average), a
one-way delay with uniform jitter (packets never reorder: a packet leaves no earlier than the one
before it), and a bandwidth cap (token bucket at ``cap_kbps`` with a drop-tail queue of
``queue_ms`` at that rate) that can step to another rate at a set time. Seeded: the same seed
gives the same loss pattern for the same packet sequence (the packets themselves depend on the
browser's timing). Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import heapq
import random
import socket
import threading
import time
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

    def __init__(self, model: LinkModel, seed: int):
        self.m = model
        self.rng = random.Random(seed)
        self.bad = False
        self.counts = LinkCounts()
        self.t0 = time.monotonic()
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


class Relay:
    """Two UDP sockets on 127.0.0.1 and a thread per direction plus one sender thread."""

    def __init__(self, up: LinkModel, down: LinkModel, seed: int = 0):
        self.sock_a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock_b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock_a.bind(("127.0.0.1", 0))
        self.sock_b.bind(("127.0.0.1", 0))
        self.links = {"up": Link(up, seed * 2 + 1), "down": Link(down, seed * 2 + 2)}
        self.peer1: int | None = None     # real ports of the two peers
        self.peer2: int | None = None
        self._queue: list = []
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seq = 0

    @property
    def port_a(self) -> int:
        """Where peer 1 sends (peer 2's advertised port, as peer 1 sees it)."""
        return self.sock_a.getsockname()[1]

    @property
    def port_b(self) -> int:
        """Where peer 2 sends (peer 1's advertised port, as peer 2 sees it)."""
        return self.sock_b.getsockname()[1]

    def start(self, peer1: int, peer2: int) -> None:
        self.peer1, self.peer2 = peer1, peer2
        now = time.monotonic()
        for link in self.links.values():
            link.t0 = now
        for sock in (self.sock_a, self.sock_b):
            sock.settimeout(0.2)
        self._threads = [threading.Thread(target=self._receive, args=(self.sock_a, "up"), daemon=True),
                         threading.Thread(target=self._receive, args=(self.sock_b, "down"), daemon=True),
                         threading.Thread(target=self._send, daemon=True)]
        for t in self._threads:
            t.start()

    def _receive(self, sock: socket.socket, direction: str) -> None:
        link = self.links[direction]
        while not self._stop.is_set():
            try:
                data, _ = sock.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            due = link.admit(len(data), time.monotonic())
            if due is None:
                continue
            with self._cv:
                self._seq += 1
                heapq.heappush(self._queue, (due, self._seq, direction, data))
                self._cv.notify()

    def _send(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                while not self._queue and not self._stop.is_set():
                    self._cv.wait(0.2)
                if self._stop.is_set():
                    return
                due, _, direction, data = self._queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cv.wait(min(wait, 0.05))
                    continue
                heapq.heappop(self._queue)
            try:
                if direction == "up":     # arrived from peer 1 at A: out of B to peer 2
                    self.sock_b.sendto(data, ("127.0.0.1", self.peer2))
                else:
                    self.sock_a.sendto(data, ("127.0.0.1", self.peer1))
            except OSError:
                pass

    def counts(self) -> dict:
        return {d: {k: (round(v, 1) if isinstance(v, float) else v) for k, v in vars(link.counts).items()
                    if k != "extra"} for d, link in self.links.items()}

    def close(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=1.0)
        self.sock_a.close()
        self.sock_b.close()
