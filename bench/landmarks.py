"""How far mediapipe's 5 points sit from RetinaFace-style points, on real faces.

RetinaFace (the release's detector) is trained on WIDER FACE's 5 points: eye centres, nose tip,
mouth corners. vcbench's mediapipe backend takes iris centres (468/473), mesh point 4 (nose)
and mouth corners 61/291. This compares, per face, the iris centre with the centre of the eye's
contour ring, and mesh point 4 with mesh point 1 (the nose tip proper), as a fraction of the
inter-ocular distance; and the frame-to-frame jitter of the 5 points on the carphone clip.

    python -m bench.landmarks
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LEFT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)


def offsets(lm: np.ndarray) -> dict:
    iod = np.linalg.norm(lm[468] - lm[473])
    ring_l, ring_r = lm[list(LEFT_EYE_RING)].mean(0), lm[list(RIGHT_EYE_RING)].mean(0)
    return {"iris_vs_eye_centre": float((np.linalg.norm(lm[468] - ring_l) + np.linalg.norm(lm[473] - ring_r)) / 2 / iod),
            "nose4_vs_tip1": float(np.linalg.norm(lm[4] - lm[1]) / iod)}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    from skimage import data

    from vcbench.faces.mediapipe_backend import MediapipeBackend
    from vcbench.samples import sample_path
    from vcbench.video import iter_frames

    rows = []
    still = MediapipeBackend(video=False)
    images = {"astronaut": data.astronaut()}
    try:
        import cv2
        import insightface

        t1 = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
        if t1.is_file():
            images["insightface t1"] = cv2.cvtColor(cv2.imread(str(t1)), cv2.COLOR_BGR2RGB)
    except ImportError:
        pass
    for name, img in images.items():
        for f in still.detect(img):
            if f.landmarks is not None:
                rows.append({"image": name, **offsets(f.landmarks)})
    still.close()
    video = MediapipeBackend()
    kps, per = [], []
    for _, rgb in iter_frames(sample_path("carphone")):
        faces = video.detect(rgb)
        if faces and faces[0].landmarks is not None:
            kps.append(faces[0].kps)
            per.append(offsets(faces[0].landmarks))
    video.close()
    k = np.stack(kps)
    iod = np.linalg.norm(k[:, 0] - k[:, 1], axis=1).mean()
    jitter = float(np.linalg.norm(np.diff(k, 2, axis=0), axis=2).mean() / iod)  # 2nd difference: jitter, not motion
    res = {"faces": rows,
           "carphone_mean": {key: round(float(np.mean([p[key] for p in per])), 4) for key in per[0]},
           "still_mean": {key: round(float(np.mean([r[key] for r in rows])), 4) for key in ("iris_vs_eye_centre",
                                                                                          "nose4_vs_tip1")},
           "carphone_5pt_jitter_2nd_diff_over_iod": round(jitter, 4), "carphone_frames": len(k)}
    print(json.dumps(res, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/landmarks.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    from vcbench.runtime import quiet_native_logs

    quiet_native_logs()    # mediapipe/TFLite/OpenCV lines off the figures (as the CLI does)
    main()
