"""The heavy objects a generate run builds once and every target shares: the swapper, the face
enhancer, the video face backend, the still-image backend for sources, ArcFace for identity
similarity. Nothing here counts or decides; the job (``pipeline.py``) and the per-target steps
(``target.py``) use them."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, FaceError, VcbenchError, VideoError
from .config import GenerateConfig

#: a second face at least this fraction of the largest one's area makes a source ambiguous
SOURCE_CROWD = 0.25


class Tools:
    def __init__(self, cfg: GenerateConfig, log=print):
        self.cfg = cfg
        self.log = log
        self.select = "all" if cfg.map else cfg.select   # --map swaps every face whose identity it maps
        self.swapper = self._swapper()
        self.enhancer = self._enhancer()
        self.backend = self._backend()
        self._still = None
        self._arcface = False   # False = not looked up yet; None = not available

    def _swapper(self):
        from .swap import SWAPPERS

        cfg, kw = self.cfg, {}
        if cfg.swapper == "inswapper":
            kw = dict(model=cfg.swapper_model, arcface=cfg.arcface, mouth_mask=cfg.mouth_mask, color=cfg.color,
                      poisson=cfg.poisson, mouth_mask_size=cfg.mouth_mask_size)
        return SWAPPERS.get(cfg.swapper)(**kw)

    def _enhancer(self):
        """Deep-Live-Cam's enhancer, or None. GFPGAN's every-second-frame cache is its live loop's
        (one face, webcam timing)."""
        if self.cfg.enhancer is None:
            return None
        from .enhance import FaceEnhancer

        return FaceEnhancer(self.cfg.enhancer, self.cfg.enhancer_model,
                            live=self.cfg.timing == "live" and self.select != "all")

    def _backend(self):
        from ..faces.tracking import get_backend

        cfg, name = self.cfg, self.cfg.face_backend
        if name == "auto":
            name = "mediapipe"
            if cfg.swapper == "inswapper" and not str(cfg.arcface).endswith(".onnx"):
                try:
                    return get_backend("insightface", pack=cfg.arcface)
                except (VcbenchError, AssertionError) as e:   # FaceAnalysis asserts a detector
                    self.log(f"face backend: insightface pack {cfg.arcface!r} unusable ({e}); using mediapipe")
        if self.swapper.needs_landmarks and name != "mediapipe":
            raise ConfigError(f"swapper {self.swapper.name!r} needs mediapipe's 478-point mesh; "
                              f"use --face-backend mediapipe")
        return get_backend(name)

    def still_backend(self):
        """Faces in a single image (the source): mediapipe in still-image mode."""
        if self._still is None:
            if self.backend.name == "mediapipe":
                from ..faces.mediapipe_backend import MediapipeBackend

                self._still = MediapipeBackend(video=False, max_faces=4)
            else:
                self._still = self.backend
        return self._still

    def arcface(self):
        """The ArcFace model for identity similarity, or None when no model is around."""
        if self._arcface is False:
            if hasattr(self.swapper, "arcface"):
                try:
                    self._arcface = self.swapper.arcface
                except VcbenchError:
                    self._arcface = None
            else:
                from .swap.inswapper import ArcFace, find_arcface

                try:
                    p = find_arcface(self.cfg.arcface)
                    self._arcface = ArcFace(p) if p else None
                except (VcbenchError, ImportError):
                    self._arcface = None
        return self._arcface

    def load_source(self, path) -> tuple[np.ndarray, list]:
        """A source's image (the best of 8 frames of a video) and its one face."""
        import cv2

        from ..video import VIDEO_EXTENSIONS, iter_frames, probe, sample_indices

        if path.suffix.lower() in VIDEO_EXTENSIONS:
            info = probe(path)
            frames = [img for _, img in iter_frames(path, indices=sample_indices(info.frames, 8))]
        else:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise VideoError(f"{path}: not a readable image")
            frames = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)]
        best = None
        for img in frames:
            faces = [f for f in self.still_backend().detect(img) if np.isnan(f.score) or f.score >= 0.5]
            if not faces:   # a tight face crop (an aligned 112 px face) gives the detector no context:
                pad = max(img.shape[:2]) // 2          # pad it and use the padded picture as the source
                img = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                         value=(0, 0, 0))
                faces = [f for f in self.still_backend().detect(img) if np.isnan(f.score) or f.score >= 0.5]
            if faces:
                top = max(faces, key=lambda f: f.area)
                crowd = [f for f in faces if f.area >= SOURCE_CROWD * top.area]
                if len(crowd) > 1:
                    raise FaceError(f"{path}: {len(crowd)} faces; a source must show one person (crop it)")
                if best is None or top.area * top.score > best[1][0].area * best[1][0].score:
                    best = (img, [top])
        if best is None:
            raise FaceError(f"{path}: no face found in the source")
        return best

    def describe(self) -> dict:
        return {"swapper": self.swapper.describe(), "enhancer": self.enhancer.describe() if self.enhancer else None,
                "face_backend": self.backend.key}
