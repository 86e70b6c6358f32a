"""A packet-level network emulator between two WebRTC peers on 127.0.0.1.

Each peer is told the other lives at one of the relay's two UDP sockets (its ICE candidate's port
is rewritten), so every packet crosses the relay, which forwards it out of the other socket:

    peer 1 --> socket A ==(uplink model)==> socket B --> peer 2
    peer 1 <-- socket A <==(downlink model)== socket B <-- peer 2

Per direction, :class:`..link.Link` decides each packet's fate (loss, delay, jitter, cap). Seeded:
the same seed gives the same loss pattern for the same packet sequence (the packets themselves
depend on the browser's timing). Nothing leaves 127.0.0.1.
"""
from __future__ import annotations

import heapq
import socket
import threading
import time

from ..link import Link, LinkModel


def stream_of(data: bytes) -> int | str:
    """What a UDP payload between the peers carries (RFC 7983's demultiplexing by first byte, RFC 5761's
    RTP/RTCP split by payload type): an RTP packet's SSRC, else "rtcp", "stun" or "other" (DTLS). SRTP
    leaves the RTP header in the clear, so the SSRC tells media from its RTX (retransmission and probe
    padding) stream without decrypting anything."""
    if len(data) < 12:
        return "other"
    if data[0] < 4:
        return "stun"
    if 128 <= data[0] < 192:
        return "rtcp" if 192 <= data[1] <= 223 else int.from_bytes(data[8:12], "big")
    return "other"


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
        self.wire = {"up": {}, "down": {}}   # bytes offered per stream: an RTP SSRC, "rtcp", "stun", "other"
        #: per direction, (SSRC, RTP timestamp) of each RTP packet the link dropped (the header is in
        #: the clear under SRTP): which frame lost packets
        self.dropped: dict[str, list[tuple[int, int]]] = {"up": [], "down": []}

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
            kind = stream_of(data)
            self.wire[direction][kind] = self.wire[direction].get(kind, 0) + len(data)
            due = link.admit(len(data), time.monotonic())
            if due is None:
                if isinstance(kind, int):
                    self.dropped[direction].append((kind, int.from_bytes(data[4:8], "big")))
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
