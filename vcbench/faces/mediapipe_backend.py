"""The offline default: mediapipe 0.10.21's bundled face detector and 478-point face mesh.

Detection (BlazeFace full-range) gives boxes and scores; the mesh (with iris refinement) gives
dense landmarks, from which the 5 points are taken: iris centres 468/473, nose tip 4, mouth
corners 61/291. Each detection is paired with the mesh whose centre falls in its box.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import NotAvailableError
from .base import Face, FaceBackend, dist_version

FIVE_POINTS = (468, 473, 4, 61, 291)
os.environ.setdefault("GLOG_minloglevel", "2")  # keep mediapipe's C++ logging off the terminal


def _mp():
    try:
        import mediapipe as mp
    except ImportError as e:  # e.g. Python 3.13, where mediapipe 0.10.21 has no wheel
        raise NotAvailableError(f"face backend 'mediapipe' needs mediapipe==0.10.21 ({e})") from None
    return mp


class MediapipeBackend(FaceBackend):
    name = "mediapipe"

    def __init__(self, max_faces: int = 4, min_score: float = 0.5, video: bool = True, mesh: bool = True):
        mp = _mp()
        self.version = mp.__version__
        self.min_score = min_score
        self._det = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
        self._mesh_args = dict(static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=True,
                               min_detection_confidence=min_score, min_tracking_confidence=0.5)
        self._mesh = mp.solutions.face_mesh.FaceMesh(**self._mesh_args) if mesh else None
        self._with_mesh = mesh
        self._box_ratio = np.array([-0.05, 0.05, 0.05, -0.05], dtype=np.float32)

    @classmethod
    def cache_key(cls, min_score: float = 0.5, **_) -> str:
        return f"mediapipe-{dist_version('mediapipe')}-s{min_score:g}"

    @property
    def key(self) -> str:
        return self.cache_key(min_score=self.min_score)

    def close(self) -> None:
        self._det.close()
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def reset(self) -> None:
        """Forget the mesh's tracking state between videos by restarting its graph (building a
        new FaceMesh per video kept ~1 MB of native memory each time: 48 videos, +21 % RSS)."""
        if self._with_mesh and self._mesh is not None:
            self._mesh.reset()

    def detect(self, rgb: np.ndarray, run_detector: bool = True) -> list[Face]:
        """Faces in one RGB frame. ``run_detector=False`` (tracking frames) skips the detector:
        boxes come from the mesh, mapped through the box/mesh geometry of the last detection,
        and scores are NaN (the tracker carries the track's score)."""
        h, w = rgb.shape[:2]
        rgb = np.ascontiguousarray(rgb)
        meshes = []
        if self._with_mesh:
            res = self._mesh.process(rgb)
            for fl in res.multi_face_landmarks or []:
                meshes.append(np.array([(p.x * w, p.y * h) for p in fl.landmark], dtype=np.float32))
        if not run_detector and self._with_mesh:
            return [Face(box=_box_from_mesh(m, self._box_ratio), kps=m[list(FIVE_POINTS)].copy(), score=float("nan"),
                         landmarks=m) for m in meshes]
        det = self._det.process(rgb)
        faces: list[Face] = []
        used: set[int] = set()
        for d in det.detections or []:
            bb = d.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h],
                           dtype=np.float32)
            kp6 = np.array([(k.x * w, k.y * h) for k in d.location_data.relative_keypoints], dtype=np.float32)
            mesh = None
            for i, m in enumerate(meshes):
                cx, cy = m[:, 0].mean(), m[:, 1].mean()
                if i not in used and box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                    mesh, _ = m, used.add(i)
                    break
            if mesh is not None:
                kps = mesh[list(FIVE_POINTS)]
                self._box_ratio = _mesh_box_ratio(box, mesh)
            else:
                # detector keypoints: eyes, nose, mouth centre; spread the mouth along the eye line
                eye_l, eye_r, nose, mouth = kp6[1], kp6[0], kp6[2], kp6[3]
                if eye_l[0] > eye_r[0]:
                    eye_l, eye_r = eye_r, eye_l
                half = (eye_r - eye_l) * 0.4
                kps = np.stack([eye_l, eye_r, nose, mouth - half, mouth + half])
            faces.append(Face(box=box, kps=kps.astype(np.float32), score=float(d.score[0]), landmarks=mesh))
        return faces


def _mesh_box_ratio(box: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    x1, y1 = mesh.min(0)
    x2, y2 = mesh.max(0)
    mw, mh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    return np.array([(box[0] - x1) / mw, (box[1] - y1) / mh, (box[2] - x2) / mw, (box[3] - y2) / mh], np.float32)


def _box_from_mesh(mesh: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    x1, y1 = mesh.min(0)
    x2, y2 = mesh.max(0)
    mw, mh = x2 - x1, y2 - y1
    return np.array([x1 + ratio[0] * mw, y1 + ratio[1] * mh, x2 + ratio[2] * mw, y2 + ratio[3] * mh], np.float32)


def self_test() -> str:
    """Run detection + mesh on scikit-image's astronaut; used by ``vcbench doctor``."""
    from skimage import data

    b = MediapipeBackend(video=False)
    faces = b.detect(data.astronaut())
    if not faces or faces[0].landmarks is None:
        raise RuntimeError("no face found on the astronaut test image")
    return f"mediapipe {b.version}: detector + 478-point mesh run offline (astronaut: score {faces[0].score:.2f})"
