"""Network stage: what a libwebrtc receiver displays when packets are lost, modelled packet by packet.

The model runs a call's transport in simulated time, with the numbers libwebrtc uses:

* **sender**: frame ``i`` is encoded at ``i / fps`` and split into packets of at most
  :data:`PAYLOAD` bytes by its encoded size; the pacer sends them at 2.5x the target rate
  (``kDefaultPaceMultiplier``). Packets stay in the history for max(1 s, 3 RTT), longer while
  fewer than 600 are stored, 3 times that at most (``rtp_packet_history.cc``); a NACKed packet is
  resent unless it was already resent less than one RTT ago (``VerifyRtt``).
  A keyframe request (PLI) makes the next frame a keyframe, whose size the encoder caps at
  max(300 %, 0.5 x 600 ms x fps / 10) of a frame's budget: 900 % at 30 fps
  (``MaxIntraTarget`` in ``libvpx_vp8_encoder.cc``).
* **path**: :class:`.link.Link` in each direction, the very loss process the real-call relay
  uses (Gilbert-Elliott per packet, half the RTT each way, jitter, a cap). NACKs and PLIs cross
  the feedback direction and can be lost too.
* **receiver** (``nack_requester.cc``): a gap in sequence numbers is NACKed at once; every
  20 ms a packet still missing is NACKed again once an RTT has passed since the last request,
  up to 10 times; over 1000 missing packets clear the list and request a keyframe. Only whole
  frames whose reference was decoded are decoded (no error concealment). A keyframe is
  requested when the first assembled frame is not one (``rtp_video_stream_receiver2.cc``) and
  when nothing was decodable for 3 s, then every 200 ms until one arrives
  (``video_receive_stream2.cc``: ``max_wait_for_frame``, ``max_wait_for_keyframe``).
* **jitter buffer** (``jitter_estimator.cc``, ``timing.cc``): once 3 frames needed a
  retransmission (``kNackLimit``), the target delay adds one RTT; the current delay moves
  toward the target by at most 100 ms per second, and jumps up (to the target) when a frame is
  decoded late.
* **display**: a frame renders at its render time (capture + delay) or when decoded, whichever
  is later; output slot ``j`` shows the last frame rendered by ``j / fps`` plus the call's
  smallest latency (its 5th percentile plus half a frame), exactly as the real-call engine's
  receiver view is built, and a freeze is a still picture for max(3 x the frame interval,
  interval + 150 ms) (``video_quality_observer2.cc``), counted by :func:`freezes_of`, the
  function the real-call engine counts with.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from ..contracts import freezes_of  # noqa: F401 - the one freeze rule (a contract), used and re-exported here
from .codec import keyframe_cap
from .link import Link, LinkModel

PAYLOAD = 1150             # media bytes per RTP packet: libwebrtc's 1200-byte packets less headers
PACE_MULTIPLIER = 2.5
NACK_INTERVAL_S = 0.020
MAX_NACK_RETRIES = 10
MAX_NACK_PACKETS = 1000
NACK_LIMIT = 3             # retransmitted frames before the jitter buffer adds an RTT
MAX_DELAY_CHANGE = 0.1     # s of delay per s
WAIT_FOR_FRAME_S = 3.0
HISTORY_PACKETS = 600      # kMinSendSidePacketHistorySize
HISTORY_CULL_FACTOR = 3    # kPacketCullingDelayFactor
WAIT_FOR_KEYFRAME_S = 0.2
NOISE_STD_DEVS = 2.33      # jitter_estimator.cc
NOISE_OFFSET_MS = 30.0
NOISE_OUTLIER = 15.0
ALPHA_COUNT_MAX = 400
OS_JITTER_MS = 10.0
#: A NACK or PLI's time inside the two peers (threads, RTCP, the sender's pacer) beyond the path:
#: calibrated against the webrtc engine (grid 0-60 ms; 10 ms gives the smallest worst gap in freeze
#: count and time over lossy-180p, loss-stress and mobile-uplink; README, "Calibration")
FEEDBACK_DELAY_S = 0.010
PREROLL = 3                # frames the first keyframe is sent ahead of frame 0, as the real-call engine does


@dataclass
class FramePlan:
    """What the receiver shows: output slot ``j`` shows sent frame ``source[j]`` (non-decreasing:
    a renderer only holds or moves on); ``keyframes`` are the sent frames encoded as keyframes;
    ``freezes`` are (first slot, slots held) runs that count as freezes."""

    source: list[int]
    keyframes: list[int] = field(default_factory=lambda: [0])
    freezes: list[tuple[int, int]] = field(default_factory=list)
    transport: dict = field(default_factory=dict)      # what the transport did (packets, NACKs, PLIs)
    lost: dict = field(default_factory=dict)           # sent frame -> packets of it the link dropped

    @property
    def identity(self) -> bool:
        return self.source == list(range(len(self.source)))

    @property
    def distinct(self) -> int:
        return len(set(self.source))


def call_freezes(shown: list[int], fps: float) -> list[tuple[int, int]]:
    """The freezes of a call's view (:func:`freezes_of`) after its start-up: the picture held
    from the first slot until it first changes is the call starting, not a freeze. Both engines
    count with this."""
    startup = next((i for i, s in enumerate(shown) if s != shown[0]), len(shown)) - 1
    return [f for f in freezes_of(shown, fps) if f[0] > max(startup, 0)]


def plan_call(sizes: list[int], fps: float, kbps: float, up: LinkModel, down: LinkModel, seed: int,
              seq_only: bool = False) -> FramePlan:
    """Run the transport over sent frames of ``sizes`` bytes (0: the encoder dropped it).

    Frame 0 is the call's first keyframe; frames made keyframes by a PLI are in ``keyframes``
    (their size is the keyframe cap, since the encoder spends up to it). ``seq_only``: the codec's
    RTP payload carries no picture ids (H.264), so libwebrtc passes a frame on only once every
    earlier packet is in (``RtpSeqNumOnlyRefFinder``). Deterministic in ``seed``."""
    return _Call(sizes, fps, kbps, up, down, seed, seq_only).run()


class _Call:
    def __init__(self, sizes, fps, kbps, up, down, seed, seq_only=False):
        self.sizes, self.fps, self.n = [int(s) for s in sizes], float(fps), len(sizes)
        self.rtt = (up.delay_ms + down.delay_ms) / 1000.0
        self.owd = up.delay_ms / 1000.0
        self.rtt_guess = max(self.rtt + 2 * FEEDBACK_DELAY_S, 0.010)     # as the peers measure it
        self.budget = kbps * 1000.0 / 8.0 / fps
        self.pace_bps = PACE_MULTIPLIER * kbps * 1000.0
        rng = np.random.default_rng(seed)
        s_up, s_down = (int(x) for x in rng.integers(0, 2**31 - 1, size=2))
        self.up, self.down = Link(up, s_up), Link(down, s_down)
        self.events: list = []
        self.order = 0
        # sender
        self.pacer_free = -1e9
        self.force_key = False
        self.keyframes: list[int] = [0]
        self.history: dict[int, list] = {}        # seq -> [frame, bytes, first sent, last sent, resends]
        self.next_seq = 0
        self.last_pli_served = -1.0
        # receiver
        self.frame_seqs: dict[int, tuple[int, int]] = {}   # frame -> (first seq, packets)
        self.got: dict[int, int] = {}             # frame -> packets received
        self.rtx_frames: set[int] = set()
        self.received: set[int] = set()
        self.highest = -1
        self.nack: dict[int, list] = {}           # seq -> [last requested, retries]
        self.last_decoded = -1
        self.assembled_any = False
        self.last_key_request = -1e9
        self.last_key_packet = -1e9
        self.last_progress = 0.0
        self.nacked_frames = 0
        self.seq_only = seq_only
        self.released = -1                        # seq_only: frames handed on so far
        self.prev_frame: tuple[int, float] | None = None
        self.alpha_count, self.avg_noise, self.var_noise = 1, 0.0, 4.0
        self.delay = 0.0
        self.delay_t = 0.0
        self.render: dict[int, float] = {}
        self.last_render = 0.0
        self.count = {"packets": 0, "lost": 0, "retransmissions": 0, "nacks": 0, "plis": 0, "given_up": 0}
        self.lost_by_frame: dict[int, int] = {}  # sent frame -> its packets the link dropped (retransmissions too)

    # -- plumbing ----------------------------------------------------------------------------
    def at(self, t: float, kind: str, *args) -> None:
        self.order += 1
        heapq.heappush(self.events, (t, self.order, kind, args))

    def send(self, now: float, seq: int, nbytes: int) -> None:
        """Pace one transmission onto the media path."""
        t = max(now, self.pacer_free)
        self.pacer_free = t + nbytes * 8 / self.pace_bps
        self.count["packets"] += 1
        due = self.up.admit(nbytes + 50, t)
        if due is None:
            self.count["lost"] += 1
            frame = self.history[seq][0]
            self.lost_by_frame[frame] = self.lost_by_frame.get(frame, 0) + 1
        else:
            self.at(due, "packet", seq)
        self.history[seq][3] = t

    def feedback(self, now: float, kind: str, payload) -> None:
        due = self.down.admit(80, now)
        if due is not None:
            self.at(due + FEEDBACK_DELAY_S, kind, payload)

    # -- sender ------------------------------------------------------------------------------
    def capture(self, now: float, i: int) -> None:
        size = self.sizes[i]
        if i > 0 and self.force_key:
            self.force_key = False
            self.keyframes.append(i)
            size = max(size, int(keyframe_cap(self.fps) * self.budget))
        if size <= 0:
            return
        m = max(1, math.ceil(size / PAYLOAD))
        first = self.next_seq
        self.next_seq += m
        self.frame_seqs[i] = (first, m)
        for k in range(m):
            nbytes = min(PAYLOAD, size - k * PAYLOAD)
            self.history[first + k] = [i, nbytes, max(now, self.pacer_free), -1.0, 0]
            self.send(now, first + k, nbytes)

    def kept(self, seq: int, now: float) -> bool:
        """Whether the sender's history still holds ``seq``: culled after max(1 s, 3 RTT) once 600
        newer packets are stored, and after 3 times that in any case."""
        age = now - self.history[seq][2]
        keep = max(1.0, 3 * self.rtt_guess)
        return age <= keep or (age <= HISTORY_CULL_FACTOR * keep and self.next_seq - seq < HISTORY_PACKETS)

    def on_nack(self, now: float, seqs) -> None:
        for s in seqs:
            h = self.history.get(s)
            if h is None or not self.kept(s, now) or (h[4] and now - h[3] < self.rtt_guess):
                continue                 # a packet already resent less than an RTT ago is not resent again
            h[4] += 1
            self.count["retransmissions"] += 1
            self.send(now, s, h[1])

    def on_pli(self, now: float, _=None) -> None:
        if now - self.last_pli_served >= self.rtt_guess:     # one keyframe per round trip of requests
            self.force_key = True
            self.last_pli_served = now

    # -- receiver ----------------------------------------------------------------------------
    def frame_of(self, seq: int) -> int:
        return self.history[seq][0]

    def request_keyframe(self, now: float) -> None:
        self.count["plis"] += 1
        self.last_key_request = now
        self.feedback(now, "pli", None)

    def on_packet(self, now: float, seq: int) -> None:
        if seq in self.received:
            return
        self.received.add(seq)
        retransmitted = seq in self.nack
        self.nack.pop(seq, None)
        if seq > self.highest:
            missing = list(range(self.highest + 1, seq))
            self.highest = seq
            if missing:
                if len(self.nack) + len(missing) > MAX_NACK_PACKETS:
                    self.nack.clear()
                    self.request_keyframe(now)
                else:
                    for s in missing:
                        self.nack[s] = [now, 0]
                    self.count["nacks"] += 1
                    self.feedback(now, "nack", tuple(missing))
        i = self.frame_of(seq)
        if i in self.keyframes:
            self.last_key_packet = now
        if retransmitted:
            self.rtx_frames.add(i)
        self.got[i] = self.got.get(i, 0) + 1
        if self.whole(i):
            self.on_frame(now, i)

    def on_timer(self, now: float, _=None) -> None:
        due = []
        for s, entry in list(self.nack.items()):
            if now - entry[0] >= self.rtt_guess:
                if entry[1] >= MAX_NACK_RETRIES:
                    del self.nack[s]
                    self.count["given_up"] += 1
                    continue
                entry[0], entry[1] = now, entry[1] + 1
                due.append(s)
        if due:
            self.count["nacks"] += 1
            self.feedback(now, "nack", tuple(due))
        # nothing decodable for 3 s: ask for a keyframe, again every 200 ms, unless one is arriving
        pending = self.highest >= 0 and self.frame_of(self.highest) > self.last_decoded
        if (pending and now - self.last_progress >= WAIT_FOR_FRAME_S
                and now - self.last_key_request >= WAIT_FOR_KEYFRAME_S
                and now - self.last_key_packet >= WAIT_FOR_KEYFRAME_S):
            self.request_keyframe(now)

    def on_frame(self, now: float, i: int) -> None:
        """Frame ``i`` is whole: hand it (and what it unblocks) to the jitter buffer and decode
        what has become decodable, in order."""
        key = i in self.keyframes
        if not self.assembled_any:
            self.assembled_any = True
            if not key:                  # frames before a keyframe cannot be decoded: ask at once
                self.request_keyframe(now)
        if not self.seq_only:
            self.to_jitter_buffer(now, i)
        else:                            # H.264 carries no picture ids: frames wait for every earlier packet
            if key and i > self.released:
                self.released = i - 1    # a keyframe needs nothing before it
            while self.released + 1 < self.n and self.ready(self.released + 1, now):
                self.released += 1
                if self.released in self.frame_seqs:
                    self.to_jitter_buffer(now, self.released)
        if key and i > self.last_decoded and (self.last_decoded < 0 or not self.chain_complete_to(i, now)):
            self.decode(now, i)          # a keyframe restarts the chain; frames before it are dropped
        self.advance(now)

    def to_jitter_buffer(self, now: float, i: int) -> None:
        """libwebrtc's jitter estimate (``jitter_estimator.cc``): a frame delayed by a
        retransmission only counts towards the RTT term (``FrameNacked``); any other frame updates
        the frame-delay noise: its delay against the previous such frame, less what its size
        explains (the pacer's rate standing in for the Kalman line), filtered with weight
        1 / min(count, 400), outliers clipped at 15 sigma."""
        if i in self.rtx_frames:
            self.nacked_frames += 1
            return
        if self.prev_frame is not None:
            k, t = self.prev_frame
            d = (now - t - (i - k) / self.fps - (self.sizes[i] - self.sizes[k]) * 8 / self.pace_bps) * 1000.0
            sd = math.sqrt(self.var_noise)
            if abs(d - self.avg_noise) > NOISE_OUTLIER * sd:
                d = self.avg_noise + math.copysign(NOISE_OUTLIER * sd, d - self.avg_noise)
            alpha = (self.alpha_count - 1) / self.alpha_count
            self.alpha_count = min(self.alpha_count + 1, ALPHA_COUNT_MAX)
            old = self.avg_noise
            self.avg_noise = alpha * self.avg_noise + (1 - alpha) * d
            self.var_noise = max(1.0, alpha * self.var_noise + (1 - alpha) * (d - old) ** 2)
        self.prev_frame = (i, now)

    def jitter_delay(self) -> float:
        """Target delay beyond the path's: noise threshold (2.33 sigma - 30 ms, at least 1 ms),
        10 ms of operating-system jitter, and one RTT once 3 frames needed a retransmission."""
        noise = max(1.0, NOISE_STD_DEVS * math.sqrt(self.var_noise) - NOISE_OFFSET_MS)
        return (noise + OS_JITTER_MS) / 1000.0 + (self.rtt if self.nacked_frames >= NACK_LIMIT else 0.0)

    def whole(self, k: int) -> bool:
        """Every packet of frame ``k`` is in."""
        return self.got.get(k, 0) == self.frame_seqs[k][1]

    def ready(self, k: int, now: float) -> bool:
        """Nothing to wait for at frame ``k``: it is whole, or the encoder dropped it (no packets)
        and its capture time has passed."""
        return self.whole(k) if k in self.frame_seqs else k / self.fps <= now

    def chain_complete_to(self, i: int, now: float) -> bool:
        return all(self.ready(k, now) for k in range(self.last_decoded + 1, i))

    def advance(self, now: float) -> None:
        if self.last_decoded < 0:
            return
        k = self.last_decoded + 1
        while k < self.n and self.ready(k, now):
            if k in self.frame_seqs:
                self.decode(now, k)
            k += 1

    def decode(self, now: float, i: int) -> None:
        self.last_decoded = i
        self.last_progress = now
        target = self.jitter_delay()
        capture = i / self.fps
        # the current delay drifts toward the target by at most 100 ms per second ...
        step = MAX_DELAY_CHANGE * max(0.0, capture - self.delay_t)
        self.delay = min(target, self.delay + step) if self.delay < target else max(target, self.delay - step)
        self.delay_t = capture
        wanted = capture + self.owd + self.delay
        if now > wanted and self.delay < target:          # ... and jumps up when a frame is late
            self.delay = min(target, self.delay + (now - wanted))
            wanted = capture + self.owd + self.delay
        self.last_render = self.render[i] = max(wanted, now, self.last_render)

    # -- the call ----------------------------------------------------------------------------
    def run(self) -> FramePlan:
        n, fps = self.n, self.fps
        if n == 0:
            return FramePlan([], [0])
        end = n / fps + 2.0 * self.rtt + 1.0
        for i in range(n):       # the call is already up: the first keyframe leaves a pre-roll early
            self.at(-PREROLL / fps if i == 0 else i / fps, "capture", i)
        t = -PREROLL / fps
        while t < end:
            self.at(t, "timer", None)
            t += NACK_INTERVAL_S
        handlers = {"capture": self.capture, "packet": self.on_packet, "nack": self.on_nack, "pli": self.on_pli,
                    "timer": self.on_timer}
        while self.events:
            now, _, kind, args = heapq.heappop(self.events)
            if now > end and kind != "packet":
                continue
            handlers[kind](now, *args)
        return self.view()

    def view(self) -> FramePlan:
        n, fps = self.n, self.fps
        frames = sorted(self.render)
        if not frames:
            return FramePlan([0] * n, self.keyframes, [(1, n - 1)] if n > 1 else [], dict(self.count))
        lat = [self.render[i] - i / fps for i in frames]
        delay = float(np.percentile(lat, 5)) + 0.5 / fps
        shown, k, cur = [], 0, None
        for j in range(n):
            while k < len(frames) and self.render[frames[k]] <= j / fps + delay + 1e-9:
                cur = frames[k]
                k += 1
            shown.append(cur)
        first = frames[0]
        startup = sum(1 for c in shown if c is None)
        shown = [first if c is None else c for c in shown]
        freezes = call_freezes(shown, fps)
        lag = [(j - s) / fps * 1000 for j, s in enumerate(shown)]
        transport = dict(self.count, retransmitted_frames=self.nacked_frames, startup_frames=startup,
                         jitter_delay_ms=round(self.jitter_delay() * 1000, 1),
                         lag_ms={"mean": round(float(np.mean(lag)), 1), "max": round(float(np.max(lag)), 1)})
        return FramePlan(shown, sorted(set(self.keyframes)), freezes, transport, dict(self.lost_by_frame))
