"""Preset definitions: the built-in ladder (presets.toml) plus a user's own file."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import check_keys, coerce, load_toml, loads_toml, type_of
from ..errors import ConfigError
from ..registry import lookup
from ..runtime import presets_file

CODECS = ("none", "x264-crf", "x264", "openh264", "vp8", "vp9", "av1")
ENCODER_OF = {"x264-crf": "libx264", "x264": "libx264", "openh264": "libopenh264", "vp8": "libvpx",
              "vp9": "libvpx-vp9", "av1": "libaom-av1"}
DEGRADATIONS = ("balanced", "maintain-framerate", "maintain-resolution")
CONTAINER_OF = {"vp8": ".webm", "vp9": ".webm", "av1": ".mp4"}   # default .mp4


@dataclass(frozen=True)
class Preset:
    name: str
    codec: str = "none"
    description: str = ""
    width: int = 0               # 0 = keep the input's size
    height: int = 0
    fps: float = 0.0             # 0 = keep the input's rate
    bitrate_kbps: int = 0
    crf: int = 23
    loss: float = 0.0
    burst_len: float = 1.0
    rtt_ms: float = 100.0
    jitter_ms: float = 0.0       # webrtc engine: uniform +- delay jitter per packet
    cap_kbps: int = 0            # webrtc engine: uplink bandwidth cap (token bucket, drop-tail queue)
    degradation: str = "balanced"   # webrtc engine: RTCRtpSender degradationPreference under load
    bwe_step_s: float = 0.0
    bwe_width: int = 0
    bwe_height: int = 0
    bwe_kbps: int = 0
    noise_sigma: float = 0.0
    exposure_drift: float = 0.0
    wb_drift: float = 0.0
    lowlight: float = 0.0
    mjpeg_quality: int = 0
    background_blur: bool = False
    touchup: float = 0.0
    upscale: bool = False        # the receiver shows the picture at the camera's size (see simulate)
    background_replace: bool = False   # camera: virtual background, hard matte from a 256x144 mask
    portrait: bool = False       # camera: a phone held upright sends a 9:16 picture (centre crop)
    content: str = "camera"      # "screen": the clip plays in a window of a shared screen (content mode)
    glare: float = 0.0           # camera: a moving specular highlight on the face, peak as a share of white
    far_scale: float = 0.0       # camera: the subject far away: the picture scaled to this, set in the room
    share_window: float = 0.5    # screen share: the player window's width / the screen's
    temporal_layers: int = 1     # vp8/vp9: temporal scalability (libwebrtc's 3-layer pattern 0-2-1-2)
    tile_height: int = 0         # receiver: the picture shown in a tile this high (0: as received)
    record_codec: str = ""       # receiver: the tile screen-recorded and re-encoded ("" | x264-crf | x264)
    record_crf: int = 23
    record_kbps: int = 0
    sources: tuple[str, ...] = ()
    estimates: tuple[str, ...] = ()

    @property
    def encoder(self) -> str | None:
        return ENCODER_OF.get(self.codec)

    @property
    def has_network(self) -> bool:
        """Packets can be lost, delayed or queued: the transport model runs (see network)."""
        return self.loss > 0 or self.cap_kbps > 0 or self.jitter_ms > 0

    @property
    def shows_receiver_view(self) -> bool:
        """The output is what the receiver displays (freezes held exactly, upscaled, in a tile),
        stored losslessly or as the recorder encodes it, rather than the transmitted bitstream."""
        return self.upscale or self.has_network or bool(self.tile_height) or bool(self.record_codec)

    @property
    def extension(self) -> str:
        return ".mp4" if self.shows_receiver_view else CONTAINER_OF.get(self.codec, ".mp4")

    @property
    def has_camera(self) -> bool:
        return bool(self.noise_sigma or self.exposure_drift or self.wb_drift or self.lowlight or self.mjpeg_quality
                    or self.background_blur or self.background_replace or self.touchup or self.portrait
                    or self.content == "screen" or self.glare or self.far_scale)

    @property
    def reframes(self) -> bool:
        """The camera stage moves the picture (a crop, a window on a screen): face positions do
        not follow by scaling alone."""
        return self.portrait or self.content == "screen" or bool(self.far_scale)

    HEADER = f"{'name':<17} {'codec':<11} {'size@fps':<14} {'rate':<10} extras"

    def summary(self) -> str:
        if self.codec == "none":
            return f"{self.name:<17} none        (input unchanged)"
        res = f"{self.width}x{self.height}@{self.fps:g}" if self.width else "input size"
        rate = f"CRF {self.crf}" if self.codec == "x264-crf" else f"{self.bitrate_kbps} kbps"
        extras = []
        if self.loss:
            extras.append(f"{self.loss:.0%} packet loss, {self.rtt_ms:g} ms RTT")
        if self.bwe_step_s:
            extras.append(f"-> {self.bwe_width}x{self.bwe_height} {self.bwe_kbps} kbps at {self.bwe_step_s:g}s")
        if self.has_camera:
            extras.append("camera effects")
        if self.upscale:
            extras.append("shown upscaled")
        if self.content == "screen":
            extras.append("screen share")
        if self.tile_height:
            extras.append(f"{self.tile_height}p tile")
        if self.record_codec:
            extras.append("recorded")
        return f"{self.name:<17} {self.codec:<11} {res:<14} {rate:<10} {', '.join(extras)}"

    def describe(self) -> str:
        lines = [f"{self.name}: {self.description}"]
        for f in fields(self):
            if f.name in ("name", "description", "sources", "estimates"):
                continue
            v = getattr(self, f.name)
            if v != f.default:
                lines.append(f"  {f.name:<16} {v}" + ("   (estimate)" if f.name in self.estimates else ""))
        if self.encoder:
            lines.append(f"  encoder          {self.encoder}")
        lines.append("  sources:" + ("" if self.sources else " none"))
        lines += [f"    - {s}" for s in self.sources]
        return "\n".join(lines)


_FIELDS = {f.name: f for f in fields(Preset)}
_KEYS = set(_FIELDS) - {"name"} | {"extends"}


def _coerce(where: str, key: str, value: Any) -> Any:
    return coerce(where, key, value, type_of(_FIELDS[key].default))


#: key -> (lowest, highest, highest included): checked when a preset loads, so a bad number names
#: its file and key instead of failing later inside ffmpeg
RANGES = {"width": (0, 7680, True), "height": (0, 4320, True), "fps": (0, 240, True),
          "bitrate_kbps": (0, 100_000, True), "crf": (0, 51, True), "loss": (0, 1, False),
          "burst_len": (1, 1000, True), "rtt_ms": (0, 10_000, True), "bwe_step_s": (0, 36_000, True),
          "bwe_width": (0, 7680, True), "bwe_height": (0, 4320, True), "bwe_kbps": (0, 100_000, True),
          "noise_sigma": (0, 100, True), "exposure_drift": (0, 1, True), "wb_drift": (0, 1, True),
          "lowlight": (0, 1, False), "mjpeg_quality": (0, 100, True), "touchup": (0, 1, True),
          "jitter_ms": (0, 5_000, True), "cap_kbps": (0, 100_000, True), "share_window": (0.1, 1, True),
          "temporal_layers": (1, 3, True), "tile_height": (0, 4320, True), "record_crf": (0, 51, True),
          "record_kbps": (0, 100_000, True), "glare": (0, 1, True), "far_scale": (0, 1, False)}
CONTENTS = ("camera", "screen")
RECORDERS = ("", "x264-crf", "x264")


def check_ranges(where: str, p: Preset) -> None:
    for key, (lo, hi, hi_ok) in RANGES.items():
        v = getattr(p, key)
        if v < lo or v > hi or (v == hi and not hi_ok):
            raise ConfigError(f"{where}: key {key!r} must be in [{lo:g}, {hi:g}{']' if hi_ok else ')'}, got {v!r}")


def parse_presets(doc: dict, path: str, base: dict[str, Preset] | None = None) -> dict[str, Preset]:
    out = dict(base or {})
    tables = doc.get("presets", {})
    if set(doc) - {"presets"}:
        raise ConfigError(f"{path}: unknown top-level table {sorted(set(doc) - {'presets'})[0]!r}; expected [presets.<name>]")
    pending = dict(tables)
    while pending:
        progressed = False
        for name, table in list(pending.items()):
            where = f"{path}: [presets.{name}]"
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: must be a table")
            check_keys(where, table, _KEYS)
            parent = table.get("extends")
            if parent is not None and parent not in out:
                if parent in pending:
                    continue
                lookup("preset (extends)", parent, list(out))
            kw = {k: _coerce(where, k, v) for k, v in table.items() if k != "extends"}
            start = dataclasses.asdict(out[parent]) if parent else {}
            start.update(kw, name=name)
            if start.get("codec", "none") not in CODECS:
                raise ConfigError(f"{where}: unknown codec {start['codec']!r}; choose from {', '.join(CODECS)}")
            p = Preset(**{k: (tuple(v) if k in ("sources", "estimates") else v) for k, v in start.items()})
            if p.degradation not in DEGRADATIONS:
                raise ConfigError(f"{where}: degradation must be one of {', '.join(DEGRADATIONS)}, got {p.degradation!r}")
            if p.codec not in ("none", "x264-crf") and not (p.width and p.height and p.fps and p.bitrate_kbps):
                raise ConfigError(f"{where}: codec {p.codec!r} needs width, height, fps and bitrate_kbps")
            if p.bwe_step_s and not (p.bwe_width and p.bwe_height and p.bwe_kbps):
                raise ConfigError(f"{where}: bwe_step_s needs bwe_width, bwe_height and bwe_kbps")
            if p.bwe_step_s and p.codec not in ("vp8", "vp9", "av1"):
                raise ConfigError(f"{where}: a bandwidth step changes resolution mid-stream, which vcbench "
                                  f"renders for vp8/vp9/av1 only, not {p.codec!r}")
            if p.content not in CONTENTS:
                raise ConfigError(f"{where}: content must be one of {', '.join(CONTENTS)}, got {p.content!r}")
            if p.record_codec not in RECORDERS:
                raise ConfigError(f"{where}: record_codec must be one of x264-crf, x264 (or empty), "
                                  f"got {p.record_codec!r}")
            if p.record_codec == "x264" and not p.record_kbps:
                raise ConfigError(f"{where}: record_codec 'x264' needs record_kbps")
            if p.temporal_layers > 1 and p.codec not in ("vp8", "vp9"):
                raise ConfigError(f"{where}: temporal_layers needs vp8 or vp9, not {p.codec!r}")
            if (p.content == "screen" or p.portrait or p.tile_height or p.record_codec) and p.codec in ("none", "x264-crf"):
                raise ConfigError(f"{where}: screen share, portrait, tile and recorder settings need a call codec")
            if p.upscale and p.codec in ("none", "x264-crf"):
                raise ConfigError(f"{where}: 'upscale' needs a call codec that scales the picture down")
            check_ranges(where, p)
            out[name] = p
            del pending[name]
            progressed = True
        if not progressed:
            raise ConfigError(f"{path}: presets {', '.join(sorted(pending))} extend each other in a cycle")
    return out


def builtin_presets() -> dict[str, Preset]:
    text = resources.files("vcbench.conference").joinpath("presets.toml").read_text()
    return parse_presets(loads_toml(text, "presets.toml (built-in)"), "presets.toml (built-in)")


def load_presets(extra: str | os.PathLike | None = None) -> dict[str, Preset]:
    presets = builtin_presets()
    extra = extra or presets_file()
    if extra:
        presets = parse_presets(load_toml(Path(extra)), str(extra), presets)
    return presets


def get_preset(name: str, extra: str | os.PathLike | None = None) -> Preset:
    return lookup("preset", name, load_presets(extra))


def preset_to_json(p: Preset) -> dict:
    """Every setting of ``p``, as JSON (a run records the presets it used; see preset_from_json)."""
    import dataclasses

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(p).items()}


def preset_from_json(d: dict) -> Preset:
    """The :class:`Preset` a run recorded (unknown keys, from a newer vcbench, are left out)."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(Preset)}
    return Preset(**{k: (tuple(v) if k in ("sources", "estimates") else v) for k, v in d.items() if k in known})
