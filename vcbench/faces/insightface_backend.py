"""insightface packs (e.g. buffalo_l: SCRFD boxes + 5 points, 106 landmarks, ArcFace embedding).

Packs are looked up where insightface keeps them, ``<root>/models/<pack>`` with root
``$INSIGHTFACE_ROOT`` or ``~/.insightface``, or given as a folder path. vcbench never lets
insightface download: a missing pack is an error naming where it looked.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from ..errors import FaceError, NotAvailableError
from .base import Face, FaceBackend, dist_version


@contextlib.contextmanager
def quiet_align():
    """insightface's face_align calls a scikit-image API deprecated in 0.26 (same result)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`estimate` is deprecated", category=FutureWarning)
        yield


def find_pack(pack: str) -> Path:
    from ..runtime import insightface_root

    p = Path(pack).expanduser()
    if p.is_dir() and any(p.glob("*.onnx")):
        return p
    cand = insightface_root() / pack
    if cand.is_dir() and any(cand.glob("*.onnx")):
        return cand
    raise FaceError(f"insightface pack {pack!r} not found (looked in {p} and {cand}); "
                    "copy the pack's .onnx files there")


class InsightfaceBackend(FaceBackend):
    name = "insightface"

    def __init__(self, pack: str = "buffalo_l", det_size: tuple[int, int] = (640, 640), min_score: float = 0.5,
                 providers: list[str] | None = None):
        try:
            import insightface
            from insightface.app import FaceAnalysis
        except ImportError as e:
            raise NotAvailableError(f"face backend 'insightface' needs the insightface package ({e})") from None
        folder = find_pack(pack)
        self.version = f"{insightface.__version__}-{folder.name}"
        self._key = self.cache_key(pack=pack, det_size=det_size, min_score=min_score)
        if providers is None:
            import onnxruntime as ort

            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                         if p in ort.get_available_providers()]
        # insightface >= 2.1 takes the pack folder itself; given a bare name it would look under
        # <root>/models/ and download the pack when missing, which vcbench never lets it do
        self.app = FaceAnalysis(name=str(folder.resolve()), providers=providers)
        self.app.prepare(ctx_id=0, det_size=det_size, det_thresh=min_score)

    @classmethod
    def cache_key(cls, pack: str = "buffalo_l", det_size: tuple[int, int] = (640, 640), min_score: float = 0.5,
                  **_) -> str:
        return f"insightface-{dist_version('insightface')}-{Path(pack).name}-{det_size[0]}x{det_size[1]}-s{min_score:g}"

    @property
    def key(self) -> str:
        return self._key

    def detect(self, rgb: np.ndarray, run_detector: bool = True) -> list[Face]:
        out = []
        with quiet_align():
            found = self.app.get(np.ascontiguousarray(rgb[:, :, ::-1]))   # insightface works in BGR
        for f in found:
            lm = getattr(f, "landmark_2d_106", None)
            emb = getattr(f, "normed_embedding", None)
            out.append(Face(box=np.asarray(f.bbox, np.float32), kps=np.asarray(f.kps, np.float32),
                            score=float(f.det_score), landmarks=None if lm is None else np.asarray(lm, np.float32),
                            embedding=None if emb is None else np.asarray(emb, np.float32)))
        return out
