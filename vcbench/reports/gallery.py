"""Gallery thumbnails: one real/fake pair per dataset, the face crop of a middle frame under each
preset, as small JPEG data URIs (cached under ``$VCBENCH_CACHE/thumbs`` by file content)."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from ..errors import VcbenchError


def thumbnail(video: Path, face_backend: str = "mediapipe", cache_dir: Path | None = None, size: int = 112) -> str:
    """``data:image/jpeg;base64,...`` of the face (crop box of the cached track, else the frame
    centre) in the video's middle frame. Raises VcbenchError naming the file when it cannot."""
    import cv2
    import numpy as np

    from ..faces.tracking import backend_key, cache_file, content_id, load_tracks
    from ..fileio import atomic_path
    from ..runtime import cache_root
    from ..video import probe, read_frames

    video = Path(video)
    if not video.is_file():
        raise VcbenchError(f"{video}: video not found")
    key = hashlib.sha1(f"{content_id(video)}|{size}".encode()).hexdigest()
    thumb = cache_root() / "thumbs" / key[:2] / f"{key}.jpg"
    if not thumb.is_file():
        info = probe(video)
        k = max(0, min(info.frames - 1, info.frames // 2)) if info.frames else 0
        frame = read_frames(video, indices=[k])[0]
        h, w = frame.shape[:2]
        box = None
        tf = cache_file(video, backend_key(face_backend), cache_dir)
        if tf.is_file():
            for t in load_tracks(tf).tracks:
                rows = np.nonzero(t.frames == k)[0]
                if len(rows):
                    x0, y0, x1, y1 = t.boxes[rows[0]]
                    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.8
                    box = [int(max(0, cx - s)), int(max(0, cy - s)), int(min(w, cx + s)), int(min(h, cy + s))]
                    break
        if box is None:
            s = min(h, w) // 2
            box = [w // 2 - s, h // 2 - s, w // 2 + s, h // 2 + s]
        crop = cv2.resize(frame[box[1]:box[3], box[0]:box[2]], (size, size), interpolation=cv2.INTER_AREA)
        with atomic_path(thumb) as tmp:
            ok, buf = cv2.imencode(".jpg", crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            tmp.write_bytes(buf.tobytes())
    return "data:image/jpeg;base64," + base64.b64encode(thumb.read_bytes()).decode("ascii")


def strip_uri(png: Path, height: int = 96) -> str | None:
    """A heatmap strip (``benchmark --explain``'s PNG) scaled to ``height`` px as a JPEG data URI;
    None when the file cannot be read."""
    import cv2

    img = cv2.imread(str(png))
    if img is None:
        return None
    w = max(1, round(img.shape[1] * height / img.shape[0]))
    ok, buf = cv2.imencode(".jpg", cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA),
                           [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii") if ok else None
