"""Which engine applies a preset: ``ffmpeg`` (the modelled call, ``simulate.py``) or ``webrtc`` (a
real libwebrtc call, ``webrtc/engine.py``). Stages that render presets (generate, benchmark,
renditions, calibrate) go through here, so both engines take the same arguments and name their
outputs the same way."""
from __future__ import annotations

from ..errors import VideoError
from .presets import Preset, get_preset

ENGINES = ("ffmpeg", "webrtc")


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
