"""``handcrafted=DATASET``: the seed project's trivial baseline. Colour histograms and Sobel gradient
energy of the face crops, a logistic regression fitted on DATASET's train split (its clean
videos). A strong row from it warns that the data has a shortcut a deep detector could learn too.

Per video: the longest face track, ``FRAMES`` frames spread over it, each face's box crop (the box
grown by a quarter a side) resized to 64 x 64; per crop a 16-bin histogram of each RGB channel (a
share of pixels), the mean Sobel gradient magnitude of the grey crop at full, half and quarter
size (the high-frequency energy a face swap's blending and a codec's quantisation both change),
and the variance of its Laplacian; the video's feature vector is the mean over its crops.

The fit (features standardised with a noise floor, L2 logistic regression, classes balanced) is made when the
detector is built, before anything is scored, and recorded with it: its coefficients, intercept,
feature names, training videos and their training AUC (``models.json``). Its training record
(the train split's videos, people and public clips) joins the benchmark's overlap check.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, VcbenchError
from .base import Detector, Prediction

VERSION = "handcrafted/1"     # the feature definition: a change makes another model
FRAMES = 16
SCALE_FLOOR = 0.01           # standardisation: sqrt(var + floor^2), a 1 % share of pixels for a bin
BINS = 16
CROP = 64
FEATURE_NAMES = ([f"hist_{c}{k}" for c in "rgb" for k in range(BINS)]
                 + ["sobel_1", "sobel_2", "sobel_4", "laplacian_var"])


def crop_features(crop: np.ndarray) -> np.ndarray:
    """One RGB uint8 crop (resized to 64 x 64 first) -> the feature vector (``FEATURE_NAMES``)."""
    import cv2

    c = cv2.resize(crop, (CROP, CROP), interpolation=cv2.INTER_AREA)
    hist = [np.histogram(c[..., ch], bins=BINS, range=(0, 256))[0] / float(CROP * CROP) for ch in range(3)]
    grey = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = []
    for scale in (1, 2, 4):
        g = grey if scale == 1 else cv2.resize(grey, (CROP // scale, CROP // scale), interpolation=cv2.INTER_AREA)
        gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        energy.append(float(np.sqrt(gx * gx + gy * gy).mean()) / 255.0)
    lap = float(cv2.Laplacian(grey, cv2.CV_32F).var()) / (255.0 ** 2)
    return np.concatenate([np.concatenate(hist), energy, [lap]]).astype(np.float64)


def video_features(path: Path, backend, max_frames: int = 400, cache_dir=None) -> np.ndarray:
    """The mean crop feature over ``FRAMES`` frames of the video's longest face track."""
    from ..errors import FaceError
    from ..faces.tracking import track_video
    from ..video import iter_frames

    vt = track_video(path, backend=backend, max_frames=max_frames, cache_dir=cache_dir)
    tr = vt.longest()
    if tr is None or not len(tr):
        raise FaceError(f"{path}: no face found")
    rows = sorted({int(i) for i in np.linspace(0, len(tr) - 1, min(FRAMES, len(tr)))})
    want = {int(tr.frames[r]): r for r in rows}
    feats = []
    for i, rgb in iter_frames(path, indices=sorted(want)):
        h, w = rgb.shape[:2]
        x1, y1, x2, y2 = (float(v) for v in tr.boxes[want[i]][:4])
        gx, gy = (x2 - x1) / 4, (y2 - y1) / 4
        a, b = int(max(0, x1 - gx)), int(max(0, y1 - gy))
        c, d = int(min(w, x2 + gx)), int(min(h, y2 + gy))
        if c - a >= 4 and d - b >= 4:
            feats.append(crop_features(rgb[b:d, a:c]))
    if not feats:
        raise FaceError(f"{path}: no usable face crop")
    return np.mean(feats, axis=0)


class HandcraftedDetector(Detector):
    kind = "handcrafted"

    @classmethod
    def build(cls, name, value, spec, settings, **meta) -> "HandcraftedDetector":
        if not value:
            raise ConfigError(f"--model {spec}: name the dataset whose train split it is fitted on: "
                              "--model handcrafted=DATASET")
        det = cls(name, spec, settings)
        det.fit(value)
        return det

    def _backend(self):
        from ..faces.tracking import LazyBackend

        if getattr(self, "_be", None) is None:
            self._be = LazyBackend(self.settings.face_backend)
        return self._be

    def _max_frames(self) -> int:
        st = self.settings.score
        return getattr(st, "max_frames", 400) or 400

    def fit(self, dataset: str) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        from ..contracts import TRAINING_SCHEMA
        from ..datasets import get_dataset
        from ..datasets.keys import training_set

        ds = get_dataset(dataset, getattr(self.settings, "datasets", None))
        recs = [r for r in ds.records if r.split == "train" and r.preset in ("clean", "")]
        self._manifest = ds.manifest_sha256()
        xs, ys, failed = [], [], []
        for r in recs:
            try:
                xs.append(video_features(ds.abspath(r), self._backend(), self._max_frames(), self.settings.cache_dir))
                ys.append(int(r.label))
            except VcbenchError as e:
                failed.append(f"{r.video_id}: {e}")
        if len(set(ys)) < 2:
            raise ConfigError(f"--model {self.spec}: dataset {dataset!r} has no train split with both reals and fakes "
                              f"to fit on ({len(ys)} usable video(s))")
        x, y = np.stack(xs), np.asarray(ys)
        # standardised with a noise floor: a feature (a histogram bin) almost constant over a small
        # train split would otherwise turn a test video's ordinary difference into a huge z
        self.mean = x.mean(0)
        self.scale = np.sqrt(x.var(0) + SCALE_FLOOR ** 2)
        lr = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
        lr.fit((x - self.mean) / self.scale, y)
        self.model = lr
        self.provenance = {"fitted_on": dataset, "split": "train", "videos": len(y), "reals": int((y == 0).sum()),
                           "fakes": int((y == 1).sum()), "failed": failed[:20], "n_failed": len(failed),
                           "features": FEATURE_NAMES, "coef": [round(float(v), 6) for v in lr.coef_[0]],
                           "intercept": round(float(lr.intercept_[0]), 6),
                           "scaler_mean": [float(v) for v in self.mean], "scaler_scale": [float(v) for v in self.scale],
                           "scale_floor": SCALE_FLOOR,
                           "train_auc": round(float(roc_auc_score(y, self.proba(x))), 6)}
        self.training = {"schema": TRAINING_SCHEMA, "from": f"handcrafted={dataset} (train split, clean)",
                         "sets": [training_set(ds.name, ds.kind, ds.root, self._manifest, recs, {"train"})]}

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba((np.asarray(x, np.float64) - self.mean) / self.scale)[:, 1]

    def fingerprint(self) -> dict:
        """The fit is the model: the same train split (its manifest) and feature version, the same
        detector; a changed split is another model in a run folder."""
        import hashlib

        key = f"{VERSION}|{self.provenance.get('fitted_on')}|{self._manifest}"
        return {"file": None, "sha256": hashlib.sha256(key.encode()).hexdigest(), "spec": self.spec}

    def predict_batch(self, paths, ids, tracks=None):
        out = []
        for p in paths:
            try:
                f = video_features(Path(p), self._backend(), self._max_frames(), self.settings.cache_dir)
                out.append(Prediction(float(self.proba(f[None])[0]), 1))
            except VcbenchError as e:
                out.append(Prediction.failed(str(e)))
        return out

    def close(self) -> None:
        be = getattr(self, "_be", None)
        if be is not None:
            be.close()
            self._be = None
