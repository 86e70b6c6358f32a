"""Deep-Live-Cam's swapper: inswapper_128.onnx driven by an ArcFace identity embedding.

Loading goes through insightface's own ``model_zoo.get_model`` (which recognises the swapper
by its ONNX signature and takes ``emap``, the graph's last initializer), as Deep-Live-Cam
does. Per face: ``norm_crop2`` to 128 px on the 5 points, the model swaps the identity given
``latent = l2norm(normed_embedding @ emap)``, and the 128 px patch goes back through the
inverse affine under a feathered elliptical mask, into the face's box only. Options as in
Deep-Live-Cam: keep the target's mouth (its mouth mask, ``mouth.py``), Poisson blend (its construction,
``base.dlc_poisson``); plus a LAB colour transfer, a vcbench extra Deep-Live-Cam does not have.

The source embedding comes from the face backend when it has one (an insightface pack), or
from the ArcFace recognition model of a pack (``w600k_r50.onnx`` in buffalo_l) found in
``~/.insightface/models/<pack>``, or given by path. Nothing is ever downloaded.
"""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ...errors import FaceError, NotAvailableError
from ...faces.base import Face
from ...faces.insightface_backend import quiet_align
from .base import Swapper, best_face, dlc_poisson, feather_blend, lab_transfer, still_faces
from .mouth import keep_mouth

INSWAPPER_NAME = "inswapper_128.onnx"


def find_model(pattern: str, explicit: str | os.PathLike | None = None) -> Path | None:
    """A user-supplied model file: ``explicit`` when it is a file, else the first match of
    ``pattern`` under ~/.insightface/models/**, else under ./models/** (never downloaded)."""
    if explicit:
        p = Path(explicit).expanduser()
        return p if p.is_file() else None
    from ...runtime import insightface_root

    for d in (insightface_root(), Path("models")):
        if d.is_dir():
            hits = sorted(d.rglob(pattern))
            if hits:
                return hits[0]
    return None


def find_inswapper(explicit: str | os.PathLike | None = None) -> Path | None:
    """An explicit path, else ~/.insightface/models/**/inswapper_128*.onnx, else ./models/."""
    return find_model("inswapper_128*.onnx", explicit)


def providers() -> list[str]:
    """onnxruntime providers, CUDA first when this onnxruntime has it."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have] or have


def load_onnx_model(path: Path, what: str):
    """insightface's model router on one file (quietly: INSwapper prints its input shape)."""
    try:
        from insightface import model_zoo
    except ImportError as e:
        raise NotAvailableError(f"{what} needs the insightface package ({e})") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return model_zoo.get_model(str(path), providers=providers())
    except Exception as e:  # noqa: BLE001 - onnxruntime/protobuf raise many kinds; name the file
        raise FaceError(f"{path}: cannot load as an ONNX model ({type(e).__name__}: {str(e)[:160]})") from None


def find_arcface(pack: str | os.PathLike | None) -> Path | None:
    """The ArcFace recognition model: a .onnx path, or the one inside an insightface pack."""
    if pack is None:
        return None
    p = Path(pack).expanduser()
    if p.is_file():
        return p
    from ...faces.insightface_backend import find_pack

    try:
        folder = find_pack(str(pack))
    except FaceError:
        return None
    import onnxruntime as ort

    for f in sorted(folder.glob("*.onnx")):   # route by signature, as insightface does
        try:
            s = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - not a model this onnxruntime can open
            continue
        ins, outs = s.get_inputs(), s.get_outputs()
        shp = ins[0].shape
        if (len(ins) == 1 and len(outs) == 1 and len(shp) == 4 and shp[2] == shp[3]
                and isinstance(shp[2], int) and shp[2] >= 112 and shp[2] % 16 == 0):
            return f
    return None


class ArcFace:
    """Identity embeddings (L2-normalised, 512-d) from an insightface ArcFace ONNX."""

    def __init__(self, path: Path):
        self.path = path
        self.model = load_onnx_model(path, "ArcFace")
        if type(self.model).__name__ != "ArcFaceONNX":
            raise FaceError(f"{path}: not an ArcFace recognition model (insightface sees {type(self.model).__name__})")

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        from insightface.utils import face_align

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with quiet_align():
            crop = face_align.norm_crop(bgr, landmark=face.kps, image_size=self.model.input_size[0])
        e = self.model.get_feat(crop).ravel().astype(np.float32)
        return e / max(float(np.linalg.norm(e)), 1e-12)


class InswapperSwapper(Swapper):
    name = "inswapper"

    def __init__(self, model: str | os.PathLike | None = None, arcface: str | os.PathLike | None = "buffalo_l",
                 mouth_mask: bool = False, color: bool = False, poisson: bool = False,
                 mouth_mask_size: float = 0.0):
        path = find_inswapper(model)
        if path is None:
            where = str(model) if model else "~/.insightface/models/** and ./models/"
            raise NotAvailableError(f"swapper 'inswapper' needs {INSWAPPER_NAME} (looked in {where}); "
                                    "it is not redistributable: copy your own file there or pass --swapper-model")
        self.path = path
        self.model = load_onnx_model(path, "swapper 'inswapper'")
        if type(self.model).__name__ != "INSwapper":
            raise FaceError(f"{path}: not an inswapper model (insightface sees {type(self.model).__name__}; "
                            "expected inputs target [1,3,128,128] and source [1,512])")
        self.arcface_ref = arcface
        self._arcface: ArcFace | None = None
        self.mouth_mask, self.color, self.poisson = mouth_mask, color, poisson
        self.mouth_mask_size = float(mouth_mask_size)
        self.size = int(self.model.input_size[0])
        self.source_embedding: np.ndarray | None = None
        self.source_face: Face | None = None
        self._ellipse = self._make_ellipse(self.size)

    def describe(self) -> dict:
        return {"name": self.name, "model": str(self.path), "arcface": str(self.arcface_ref),
                "mouth_mask": self.mouth_mask, "mouth_mask_size": self.mouth_mask_size, "color": self.color,
                "poisson": self.poisson}

    @staticmethod
    def _make_ellipse(size: int) -> np.ndarray:
        """Deep-Live-Cam's alpha: an ellipse of axes 0.44 x size, Gaussian-blurred (31, 31), sigma 12."""
        import cv2

        m = np.zeros((size, size), np.float32)
        c, ax = size // 2, int(round(0.44 * size))
        cv2.ellipse(m, (c, c), (ax, ax), 0, 0, 360, 1.0, -1)
        return cv2.GaussianBlur(m, (31, 31), 12)

    @property
    def arcface(self) -> ArcFace:
        if self._arcface is None:
            p = find_arcface(self.arcface_ref)
            if p is None:
                raise NotAvailableError(f"swapper 'inswapper' needs an ArcFace model for the source identity: "
                                        f"{self.arcface_ref!r} is neither an .onnx file nor an insightface pack "
                                        "holding one (e.g. buffalo_l's w600k_r50.onnx)")
            self._arcface = ArcFace(p)
        return self._arcface

    def set_source(self, rgb: np.ndarray, where: str, faces: list[Face] | None = None) -> None:
        if faces is None:
            faces = still_faces(rgb)
        face = best_face(faces, where)
        emb = face.embedding if face.embedding is not None else self.arcface.embed(rgb, face)
        self.source_face, self.source_embedding = face, np.asarray(emb, np.float32)

    def swap_face(self, frame: np.ndarray, face: Face) -> np.ndarray:
        import cv2

        if self.source_embedding is None:
            raise FaceError("inswapper: set_source() was not called")
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        src = SimpleNamespace(normed_embedding=self.source_embedding)
        with quiet_align():
            patch_bgr, m = self.model.get(bgr, SimpleNamespace(kps=face.kps), src, paste_back=False)
        patch = np.ascontiguousarray(patch_bgr[:, :, ::-1])
        h, w = frame.shape[:2]
        # paste back into the face's box only (grown so the rotated crop fits)
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [self.size, 0], [0, self.size], [self.size, self.size]], np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int), [w, h])
        if x1 - x0 < 4 or y1 - y0 < 4:
            return frame
        inv_local = inv.copy()
        inv_local[:, 2] -= [x0, y0]
        size = (int(x1 - x0), int(y1 - y0))
        fake = cv2.warpAffine(patch, inv_local, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ellipse = cv2.warpAffine(self._ellipse, inv_local, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
        region = frame[y0:y1, x0:x1]
        if self.color:
            fake = lab_transfer(fake, region, ellipse > 0.5)
        out = frame.copy()
        out[y0:y1, x0:x1] = feather_blend(fake, region, ellipse)
        if self.mouth_mask:   # Deep-Live-Cam's order: paste-back, mouth, Poisson
            out = keep_mouth(out, frame, face, self.mouth_mask_size)
        if self.poisson:      # as Deep-Live-Cam: the feathered frame cloned into the original
            out = dlc_poisson(out, frame, ellipse, (x0, y0, x1, y1))
        return out
