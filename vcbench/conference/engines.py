"""Which engine applies a preset: ``ffmpeg`` (the modelled call, ``simulate.py``) or ``webrtc`` (a
real libwebrtc call, ``webrtc/engine.py``). Stages that render presets (generate, benchmark,
renditions, calibrate) go through here, so both engines take the same arguments and name their
outputs the same way."""
from __future__ import annotations

from ..config import ENGINES
from ..errors import VideoError
from .presets import Preset, get_preset


def stats_lines(stats: dict, output) -> list[str]:
    """What ``vcbench simulate`` prints of a call's stats: a line per value (the webrtc engine's
    getStats and relay counts one per entry; a long list counted, it is in the stats file)."""
    lines = []
    for k, v in stats.items():
        if isinstance(v, dict):
            lines += [f"  {k + '.' + sub:<18} {val}" for sub, val in v.items()]
        elif isinstance(v, list) and len(v) > 8:
            lines.append(f"  {k:<18} {len(v)} values (in {output}.stats.json)")
        else:
            lines.append(f"  {k:<18} {v}")
    return lines


def output_extension(p: Preset, engine: str = "ffmpeg") -> str:
    """The file type an engine writes for a preset: the webrtc engine always writes the receiver's
    view (lossless H.264 in .mp4); the ffmpeg engine the stream, or the view for lossy presets."""
    return ".mp4" if engine == "webrtc" and p.codec != "none" else p.extension


def simulate_with(engine: str, input, output, preset, **kw) -> dict:
    """:func:`simulate_file` (``ffmpeg``, the modelled call) or a real call (``webrtc``)."""
    if engine not in ENGINES:
        raise VideoError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    p = preset if isinstance(preset, Preset) else get_preset(preset, kw.pop("presets_file", None))
    if engine == "webrtc":                 # a preset without a codec makes no call: it says so
        from .webrtc.engine import simulate_webrtc

        return simulate_webrtc(input, output, p, **kw)
    from .simulate import simulate_file

    return simulate_file(input, output, p, **kw)
