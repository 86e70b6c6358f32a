"""The offline default: a graphics face swap on mediapipe's 478-point mesh.

FaceForensics++'s "FaceSwap" method on dense landmarks: the source face is warped onto the
target triangle by triangle (one Delaunay triangulation of the source mesh, reused on every
target frame), colour-matched in LAB inside the face, and blended with Poisson editing
(``cv2.seamlessClone``) or a feathered mask. The target's inner mouth is kept by default, so
its teeth and tongue stay in place when the source image has a closed mouth.

The warp is done as one ``cv2.remap``: each pixel of the target face box is labelled with its
triangle (rasterised once per frame), and its source position is that triangle's affine map
applied to the pixel, which is far faster than warping hundreds of triangles one by one.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, FaceError
from ...faces.base import Face
from .base import Swapper, best_face, feather_blend, lab_transfer, mouth_polygon, poisson_blend, still_faces

BLENDS = ("poisson", "feather")


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles ``(K, 3)`` of the source landmarks, degenerate ones removed."""
    from scipy.spatial import Delaunay

    tri = Delaunay(points.astype(np.float64)).simplices.astype(np.int32)
    p = points[tri]
    area = np.abs((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
                  - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))
    return tri[area > 1e-3]


def triangle_affines(dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the affine ``(K, 2, 3)`` taking a point of ``dst`` (K, 3, 2) to ``src``;
    and a validity mask for triangles that are not degenerate in ``dst``."""
    k = len(dst)
    x = np.ones((k, 3, 3), np.float64)
    x[:, :2, :] = dst.transpose(0, 2, 1)
    det = np.linalg.det(x)
    ok = np.abs(det) > 1e-6
    inv = np.zeros_like(x)
    inv[ok] = np.linalg.inv(x[ok])
    return src.transpose(0, 2, 1).astype(np.float64) @ inv, ok


class MeshSwapper(Swapper):
    name = "mesh"
    needs_landmarks = True

    def __init__(self, blend: str = "poisson", color: bool = True, keep_mouth: bool = True, erode: int = 2):
        if blend not in BLENDS:
            raise ConfigError(f"mesh blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        self.blend, self.color, self.keep_mouth, self.erode = blend, color, keep_mouth, erode
        self._src: np.ndarray | None = None
        self._src_pts: np.ndarray | None = None
        self._tri: np.ndarray | None = None
        self.source_face: Face | None = None

    def describe(self) -> dict:
        return {"name": self.name, "blend": self.blend, "color": self.color, "keep_mouth": self.keep_mouth}

    def set_source(self, rgb: np.ndarray, where: str, faces: list[Face] | None = None) -> None:
        """Analyse the source image with mediapipe's still-image mesh (or the given faces)."""
        if faces is None:
            faces = still_faces(rgb)
        faces = [f for f in faces if f.landmarks is not None and len(f.landmarks) >= 468]
        face = best_face(faces, where)
        self.source_face = face
        self._src = np.ascontiguousarray(rgb)
        self._src_pts = face.landmarks[:468].astype(np.float32)   # the face mesh; iris points add nothing
        self._tri = triangulate(self._src_pts)

    def swap_face(self, frame: np.ndarray, face: Face) -> np.ndarray:
        import cv2

        if self._src is None:
            raise FaceError("mesh swapper: set_source() was not called")
        h, w = frame.shape[:2]
        tgt = face.landmarks[:468].astype(np.float32)
        pad = 6
        x0, y0 = np.floor(tgt.min(0)).astype(int) - pad
        x1, y1 = np.ceil(tgt.max(0)).astype(int) + pad
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return frame
        bw, bh = x1 - x0, y1 - y0
        local = tgt - np.array([x0, y0], np.float32)

        # label every pixel of the box with its triangle (sub-pixel rasterisation, 4 fractional bits)
        ids = np.full((bh, bw), -1, np.int32)
        tri_dst = local[self._tri]
        aff, ok = triangle_affines(tri_dst, self._src_pts[self._tri])
        pts = np.round(tri_dst * 16).astype(np.int32)
        for k in np.nonzero(ok)[0]:
            cv2.fillConvexPoly(ids, pts[k], int(k), lineType=cv2.LINE_8, shift=4)
        inside = ids >= 0
        if inside.sum() < 64:
            return frame
        ys, xs = np.nonzero(inside)
        a = aff[ids[ys, xs]]
        mapx = np.full((bh, bw), -1.0, np.float32)
        mapy = np.full((bh, bw), -1.0, np.float32)
        mapx[ys, xs] = a[:, 0, 0] * xs + a[:, 0, 1] * ys + a[:, 0, 2]
        mapy[ys, xs] = a[:, 1, 0] * xs + a[:, 1, 1] * ys + a[:, 1, 2]
        warped = cv2.remap(self._src, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        mask = inside.astype(np.uint8) * 255
        if self.erode:
            mask = cv2.erode(mask, np.ones((2 * self.erode + 1,) * 2, np.uint8))
        if self.keep_mouth:
            mouth = mouth_polygon(face, inner=True)
            if mouth is not None:
                cv2.fillPoly(mask, [np.round((mouth - [x0, y0]) * 16).astype(np.int32)], 0, shift=4)
        region = frame[y0:y1, x0:x1]
        if self.color:
            warped = lab_transfer(warped, region, mask)
        if self.blend == "poisson":
            blended = poisson_blend(warped, region, mask)
        else:
            k = max(3, (min(bw, bh) // 12) | 1)
            alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (k, k), 0)
            blended = feather_blend(warped, region, alpha)
        out = frame.copy()
        out[y0:y1, x0:x1] = blended
        return out
