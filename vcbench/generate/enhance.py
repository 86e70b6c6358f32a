"""Deep-Live-Cam's face enhancers, run on the swapped frame (``--enhancer``).

An enhancer changes the swapped face's texture and sharpness more than any other step, so a
detector trained without it meets a different fake. The three Deep-Live-Cam offers, with its
files (user-supplied, looked up in ``~/.insightface/models`` and ``./models``, never
downloaded) and its pre/post-processing, written from its ``face_enhancer*.py``:

- ``gfpgan`` (``gfpgan-1024.onnx``): the face aligned by a similarity fit (least median of
  squares) of its 5 points to the FFHQ template scaled to the model's input side, grey border;
  the model's output resized back to the input side (Lanczos) when it differs; pasted back
  under a square mask with linear 5 % ramps on every edge, blended in uint8 arithmetic. In its
  live loop with one face it runs the model on every second frame and pastes the previous
  enhanced face (and its alignment) in between; ``live=True`` reproduces that.
- ``gpen256`` / ``gpen512`` (``GPEN-BFR-256.onnx`` / ``GPEN-BFR-512.onnx``): aligned to the
  normalised 5-point template times the side, replicated border; pasted back under a square
  mask with ``side // 16`` ramps; float blend. Only the first face of a frame is enhanced.

Models take ``[1, 3, S, S]`` RGB in [-1, 1] and give the same layout. Frames here are RGB.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FaceError, NotAvailableError
from ..faces.base import Face
from ..registry import Registry

#: FFHQ 5-point template at 512 px (eyes, nose, mouth corners), GFPGAN's alignment
FFHQ_512 = np.array([[192.98138, 239.94708], [318.90277, 240.19366], [256.63416, 314.01935],
                     [201.26117, 371.41043], [313.08905, 371.15118]], np.float32)
#: GPEN's template, as a fraction of the side
GPEN_TEMPLATE = np.array([[0.31556875, 0.4615741], [0.68262291, 0.4615741], [0.50009375, 0.6405054],
                          [0.34947187, 0.8246919], [0.65343645, 0.8246919]], np.float32)
GFPGAN_BORDER_RGB = (132, 133, 135)   # Deep-Live-Cam's BGR (135, 133, 132)


@dataclass(frozen=True)
class EnhancerSpec:
    name: str
    file: str        # the file name Deep-Live-Cam loads
    size: int        # model input side
    family: str      # gfpgan | gpen


ENHANCERS: Registry = Registry("enhancer")
for _spec in (EnhancerSpec("gfpgan", "gfpgan-1024.onnx", 512, "gfpgan"),
              EnhancerSpec("gpen256", "GPEN-BFR-256.onnx", 256, "gpen"),
              EnhancerSpec("gpen512", "GPEN-BFR-512.onnx", 512, "gpen")):
    ENHANCERS.register(_spec.name, _spec, help=f"{_spec.file}: [1, 3, {_spec.size}, {_spec.size}]")


def find_enhancer(spec: EnhancerSpec, explicit: str | os.PathLike | None = None) -> Path | None:
    """An explicit path, else ``<insightface root>/**/<file>``, else ``./models/**/<file>``."""
    from .swap.inswapper import find_model

    return find_model(spec.file, explicit)


def _side(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class FaceEnhancer:
    """``enhance(frame, faces) -> frame`` with one of Deep-Live-Cam's enhancers."""

    def __init__(self, name: str, model: str | os.PathLike | None = None, live: bool = False):
        self.spec: EnhancerSpec = ENHANCERS.get(name)
        path = find_enhancer(self.spec, model)
        if path is None:
            where = str(model) if model else "~/.insightface/models/** and ./models/"
            raise NotAvailableError(f"enhancer {name!r} needs {self.spec.file} (looked in {where}); vcbench never "
                                    "downloads it: copy your own file there or pass --enhancer-model")
        self.path = path
        self.session = self._load(path)
        self.live = bool(live) and self.spec.family == "gfpgan"
        self._mask = self._paste_mask()
        self.reset()

    def _load(self, path: Path):
        import onnxruntime as ort

        from .swap.inswapper import providers

        try:
            s = ort.InferenceSession(str(path), providers=providers())
        except Exception as e:  # noqa: BLE001 - onnxruntime raises many kinds; name the file
            raise FaceError(f"{path}: cannot load as an ONNX model ({type(e).__name__}: {str(e)[:160]})") from None
        ins, outs = s.get_inputs(), s.get_outputs()
        S = self.spec.size
        want = f"[1, 3, {S}, {S}] in and out" if self.spec.family == "gpen" else f"[1, 3, {S}, {S}] in"
        ok = len(ins) == 1 and len(outs) >= 1 and len(ins[0].shape) == 4 and len(outs[0].shape) == 4
        if ok:
            (_, c_in, *side_in), (_, c_out, *side_out) = ins[0].shape, outs[0].shape
            side_in, side_out = [_side(v) for v in side_in], [_side(v) for v in side_out]
            square_out = None in side_out or side_out[0] == side_out[1]
            ok = (_side(c_in) in (None, 3) and _side(c_out) in (None, 3) and set(side_in) <= {None, S}
                  and square_out and (self.spec.family != "gpen" or set(side_out) <= {None, S}))
        if not ok:
            got = f"inputs {[list(i.shape) for i in ins]}, outputs {[list(o.shape) for o in outs]}"
            raise FaceError(f"{path}: not a {self.spec.name} enhancer ({got}; expected {want})")
        self.input_name = ins[0].name
        return s

    def _paste_mask(self) -> np.ndarray:
        """The square paste-back mask, made once: GFPGAN's uint8 one with multiplied
        max(1, int(0.05 S)) ramps; GPEN's float one with S // 16 ramps, edges by minimum."""
        S = self.spec.size
        if self.spec.family == "gfpgan":
            b = max(1, int(S * 0.05))
            mask = np.ones((S, S), np.float32)
            up, down = np.linspace(0.0, 1.0, b, dtype=np.float32), np.linspace(1.0, 0.0, b, dtype=np.float32)
            mask[:b] *= up[:, None]
            mask[-b:] *= down[:, None]
            mask[:, :b] *= up[None]
            mask[:, -b:] *= down[None]
            return (mask * 255.0).astype(np.uint8)
        b = max(1, S // 16)
        mask = np.ones((S, S), np.float32)
        mask[:b] = np.linspace(0, 1, b)[:, None]
        mask[-b:] = np.linspace(1, 0, b)[:, None]
        mask[:, :b] = np.minimum(mask[:, :b], np.linspace(0, 1, b)[None])
        mask[:, -b:] = np.minimum(mask[:, -b:], np.linspace(1, 0, b)[None])
        return mask

    def reset(self) -> None:
        """Forget the live cache (call between videos)."""
        self._calls = 0
        self._cached: tuple[np.ndarray, np.ndarray] | None = None

    def describe(self) -> dict:
        return {"name": self.spec.name, "model": str(self.path), "live_cache": self.live}

    # -- the model
    def _run(self, crop: np.ndarray) -> np.ndarray:
        """RGB uint8 (S, S, 3) -> RGB uint8 (S', S', 3) through the model, [-1, 1] both ways."""
        x = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)
        if self.spec.family == "gfpgan":
            x = x * np.float32(1.0 / 127.5) - np.float32(1.0)
            y = (self.session.run(None, {self.input_name: x})[0][0] + np.float32(1.0)) * np.float32(127.5)
        else:
            x = x / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)
            y = (self.session.run(None, {self.input_name: x})[0][0] + np.float32(1.0)) / np.float32(2.0) * np.float32(255.0)
        return np.clip(y, 0, 255).astype(np.uint8).transpose(1, 2, 0)

    def _align(self, frame: np.ndarray, face: Face) -> np.ndarray | None:
        import cv2

        S = self.spec.size
        template = FFHQ_512 * np.float32(S / 512.0) if self.spec.family == "gfpgan" else GPEN_TEMPLATE * np.float32(S)
        kps = np.asarray(face.kps, np.float32)[:5]
        if len(kps) < 5 or not np.all(np.isfinite(kps)):
            return None
        return cv2.estimateAffinePartial2D(kps, template, method=cv2.LMEDS)[0]

    # -- one frame
    def enhance(self, frame: np.ndarray, faces: list[Face]) -> np.ndarray:
        """``frame`` (RGB uint8) with ``faces`` enhanced: every one for GFPGAN, the first for GPEN."""
        if not faces:
            return frame
        if self.spec.family == "gpen":
            return self._gpen(frame, faces[0])
        use_cache = self.live and len(faces) == 1
        if use_cache:
            self._calls += 1
            if self._calls % 2 != 0 and self._cached is not None:
                enhanced, m = self._cached
                return self._paste_gfpgan(frame.copy(), enhanced, m)
        out = frame.copy()
        for face in faces:
            m = self._align(out, face)
            if m is None:
                continue
            enhanced = self._gfpgan_face(out, m)
            if use_cache:
                self._cached = (enhanced, m)
            out = self._paste_gfpgan(out, enhanced, m)
        return out

    def _gfpgan_face(self, frame: np.ndarray, m: np.ndarray) -> np.ndarray:
        import cv2

        S = self.spec.size
        crop = cv2.warpAffine(frame, m, (S, S), borderMode=cv2.BORDER_CONSTANT, borderValue=GFPGAN_BORDER_RGB)
        out = self._run(crop)
        if out.shape[:2] != (S, S):
            out = cv2.resize(out, (S, S), interpolation=cv2.INTER_LANCZOS4)
        return out

    def _paste_gfpgan(self, frame: np.ndarray, enhanced: np.ndarray, m: np.ndarray) -> np.ndarray:
        """In place on ``frame``: ramps of max(1, int(0.05 S)) multiplied on each edge, uint8 blend."""
        import cv2

        b = max(1, int(self.spec.size * 0.05))
        mask = self._mask
        box = self._box(frame, m, pad=b + 2)
        if box is None:
            return frame
        x0, y0, x1, y1, inv = box
        face = cv2.warpAffine(enhanced, inv, (x1 - x0, y1 - y0), borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        a = cv2.warpAffine(mask, inv, (x1 - x0, y1 - y0), borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a3 = cv2.merge([a, a, a])
        region = frame[y0:y1, x0:x1]
        frame[y0:y1, x0:x1] = cv2.add(cv2.multiply(face, a3, scale=1.0 / 255.0),
                                      cv2.multiply(region, 255 - a3, scale=1.0 / 255.0))
        return frame

    def _gpen(self, frame: np.ndarray, face: Face) -> np.ndarray:
        import cv2

        S = self.spec.size
        m = self._align(frame, face)
        if m is None:
            return frame
        crop = cv2.warpAffine(frame, m, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        enhanced = self._run(crop)
        mask = self._mask
        box = self._box(frame, m, pad=1)
        if box is None:
            return frame
        x0, y0, x1, y1, inv = box     # outside the warped square the mask is 0: the frame stays
        size = (x1 - x0, y1 - y0)
        face_px = cv2.warpAffine(enhanced, inv, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        a = cv2.warpAffine(mask, inv, size, flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
        out = frame.copy()
        mixed = face_px.astype(np.float32) * a + frame[y0:y1, x0:x1].astype(np.float32) * (1.0 - a)
        out[y0:y1, x0:x1] = np.clip(mixed, 0, 255).astype(np.uint8)
        return out

    def _box(self, frame: np.ndarray, m: np.ndarray, pad: int):
        """The frame box the aligned square lands in (padded, clamped) and the inverse affine
        shifted into it, or None when it misses the frame."""
        import cv2

        S = self.spec.size
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [S, 0], [S, S], [0, S]], np.float64) @ inv[:, :2].T + inv[:, 2]
        h, w = frame.shape[:2]
        x0, y0 = max(0, int(np.floor(corners[:, 0].min())) - pad), max(0, int(np.floor(corners[:, 1].min())) - pad)
        x1, y1 = min(w, int(np.ceil(corners[:, 0].max())) + pad), min(h, int(np.ceil(corners[:, 1].max())) + pad)
        if x1 <= x0 or y1 <= y0:
            return None
        inv = inv.copy()
        inv[:, 2] -= [x0, y0]
        return x0, y0, x1, y1, inv
