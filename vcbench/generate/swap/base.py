"""The swapper interface, face selection, and the blending helpers both swappers share.

A swapper is causal, like a live one: ``swap(frame, faces)`` sees one RGB frame and the faces
found in it, nothing ahead. ``set_source`` analyses the identity image once.
Images are RGB uint8 ``(H, W, 3)``; points are pixels ``(x, y)``.
"""
from __future__ import annotations

import typing

import numpy as np

from ...errors import ConfigError, FaceError
from ...faces.base import Face
from ...config import Selection

SELECTIONS = typing.get_args(Selection)

#: outer and inner lip contours of mediapipe's 478-point mesh
MESH_OUTER_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
MESH_INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)


def select_faces(faces: list[Face], how: str) -> list[Face]:
    """Deep-Live-Cam's choice: the leftmost face (smallest box x), or the largest, or all."""
    if how not in SELECTIONS:
        raise ConfigError(f"face selection must be one of {', '.join(SELECTIONS)}, got {how!r}")
    if not faces or how == "all":
        return list(faces)
    key = (lambda f: f.box[0]) if how == "leftmost" else (lambda f: -f.area)
    return [min(faces, key=key)]


def mouth_polygon(face: Face, inner: bool = False) -> np.ndarray | None:
    """The lip contour from mediapipe's 478-point mesh, or None (the mesh swapper's mouth;
    the inswapper's mouth mask is Deep-Live-Cam's, in ``mouth.py``)."""
    lm = face.landmarks
    if lm is None or len(lm) < 468:
        return None
    return np.asarray(lm[list(MESH_INNER_LIPS if inner else MESH_OUTER_LIPS)], np.float32)


def still_faces(rgb: np.ndarray) -> list[Face]:
    """Faces of a single image (a source) with mediapipe's still-image mesh."""
    from ...faces.mediapipe_backend import MediapipeBackend

    return MediapipeBackend(video=False, max_faces=1).detect(rgb)


def best_face(faces: list[Face], where: str) -> Face:
    """The source identity's face: the largest confident one. FaceError names the file."""
    if not faces:
        raise FaceError(f"{where}: no face found in the source")
    return max(faces, key=lambda f: f.area * (1.0 if np.isnan(f.score) else f.score))


def lab_transfer(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the LAB mean and standard deviation of ``src`` to ``ref`` inside ``mask`` (Reinhard)."""
    import cv2

    m = mask > 0
    if m.sum() < 16:
        return src
    s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB).astype(np.float32)
    r = cv2.cvtColor(ref, cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, ss = s[m].mean(0), s[m].std(0) + 1e-3
    rm, rs = r[m].mean(0), r[m].std(0) + 1e-3
    out = (s - sm) * (rs / ss) + rm
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def feather_blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha`` float32 in [0, 1], (H, W)."""
    a = alpha[..., None]
    return (fg.astype(np.float32) * a + bg.astype(np.float32) * (1.0 - a) + 0.5).astype(np.uint8)


def poisson_blend(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.seamlessClone of ``fg`` into ``bg`` (same size) where ``mask`` > 0, aligned pixel for
    pixel. Falls back to a hard paste when the mask is empty or touches the border."""
    import cv2

    m = (mask > 0).astype(np.uint8) * 255
    m[:1, :] = m[-1:, :] = 0
    m[:, :1] = m[:, -1:] = 0
    ys, xs = np.nonzero(m)
    if len(xs) < 16:
        return bg
    x, y, w, h = cv2.boundingRect(m)
    centre = (x + w // 2, y + h // 2)   # seamlessClone centres the mask's bounding box here
    return cv2.seamlessClone(fg, bg, m, centre, cv2.NORMAL_CLONE)


def dlc_poisson(pasted: np.ndarray, original: np.ndarray, ellipse: np.ndarray, box) -> np.ndarray:
    """Deep-Live-Cam's Poisson step (``_apply_poisson_blend``) on whole frames.

    ``pasted`` is the frame after the feathered paste-back; ``ellipse`` the paste-back's warped
    elliptical alpha inside ``box = (x0, y0, x1, y1)`` (the warped patch's bounding box). The mask
    is that alpha > 0.5, eroded by an elliptical kernel of ``max(3, min(w, h) // 20 | 1)`` so the
    seam sits on swapped pixels; ``pasted`` is cloned into ``original`` there and only the mask's
    pixels are written back, so the feathered ring around it stays. Where the eroded mask touches
    the frame's edge seamlessClone cannot place it, and the feathered paste is kept.
    """
    import cv2

    x0, y0, x1, y1 = (int(v) for v in box)
    rw, rh = x1 - x0, y1 - y0
    if rw <= 8 or rh <= 8:
        return pasted
    bin_roi = np.where(ellipse > 0.5, np.uint8(255), np.uint8(0))
    k = max(3, (min(rw, rh) // 20) | 1)
    bin_roi = cv2.erode(bin_roi, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    bx, by, bw, bh = cv2.boundingRect(bin_roi)
    h, w = pasted.shape[:2]
    mx1, my1 = x0 + bx, y0 + by
    mx2, my2 = mx1 + bw - 1, my1 + bh - 1
    if bw == 0 or bh == 0 or not (mx1 > 0 and my1 > 0 and mx2 < w - 1 and my2 < h - 1):
        return pasted
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = bin_roi
    keep = mask[my1:my2 + 1, mx1:mx2 + 1, None].astype(bool)   # seamlessClone may write into its mask
    blended = cv2.seamlessClone(pasted, original, mask, (mx1 + bw // 2, my1 + bh // 2), cv2.NORMAL_CLONE)
    out = pasted.copy()
    np.copyto(out[my1:my2 + 1, mx1:mx2 + 1], blended[my1:my2 + 1, mx1:mx2 + 1], where=keep)
    return out


class Swapper:
    """Interface: ``set_source(rgb, where)`` once, then ``swap(frame, faces) -> (frame, n)``.

    ``needs_landmarks``: the swapper needs the face backend's dense landmarks on every frame.
    """

    name = "base"
    needs_landmarks = False

    def set_source(self, rgb: np.ndarray, where: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def swap_face(self, frame: np.ndarray, face: Face) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def can_swap(self, face: Face) -> bool:
        """Whether this face carries what the swapper needs (dense landmarks, for some)."""
        return face.landmarks is not None or not self.needs_landmarks

    def swap(self, frame: np.ndarray, faces: list[Face], select: str = "leftmost") -> tuple[np.ndarray, int]:
        """Swap the selected faces of one frame; returns the new frame and how many were swapped."""
        out, n = frame, 0
        for f in select_faces(faces, select):
            if not self.can_swap(f):
                continue
            out = self.swap_face(out, f)
            n += 1
        return out, n

    def describe(self) -> dict:
        return {"name": self.name}
