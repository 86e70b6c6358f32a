"""How good a fake is, per fake: face-region PSNR/SSIM against its real and ArcFace identity
similarity to the source, written beside the fake's master (``<fake>.quality.json``) and gathered
into the dataset's ``quality.csv`` (columns: ``contracts.QUALITY_COLUMNS``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def quality_path(fake: Path) -> Path:
    """The per-fake quality record beside its master (gathered into quality.csv)."""
    return fake.with_name(fake.name + ".quality.json")


def face_quality(real: Path, fake: Path, track, source, arcface=None, samples: int = 16) -> dict:
    """Face-region PSNR/SSIM of the fake against its real (both decoded masters) on ``samples``
    frames of ``track``, and with ``arcface`` the identity similarity of the fake's and the real's
    face to ``source`` = (image, [its face])."""
    from ..conference.fidelity import psnr, ssim
    from ..faces.align import enlarge_box
    from ..faces.base import Face
    from ..video import iter_frames, sample_indices

    if track is None:
        return {"face_psnr": None, "face_ssim": None, "id_sim_fake": None, "id_sim_real": None}
    rows = [track.frames[k] for k in sample_indices(len(track), samples)]
    fk = dict(iter_frames(fake, indices=rows))
    rl = dict(iter_frames(real, indices=rows))
    src_emb = None
    if arcface is not None:
        img, faces = source
        src_emb = faces[0].embedding if faces[0].embedding is not None else arcface.embed(img, faces[0])
    psnrs, ssims, sim_f, sim_r = [], [], [], []
    for fi in rows:
        if fi not in fk or fi not in rl:
            continue
        r = track.at(int(fi))
        x0, y0, x1, y1 = enlarge_box(track.boxes[r], 1.0, fk[fi].shape[1], fk[fi].shape[0])
        a = fk[fi][y0:y1, x0:x1].astype(np.float64)
        b = rl[fi][y0:y1, x0:x1].astype(np.float64)
        if min(a.shape[:2]) < 7:
            continue
        psnrs.append(psnr(a, b))
        ssims.append(ssim(a.mean(2), b.mean(2)))
        if src_emb is not None:
            face = Face(box=track.boxes[r], kps=track.kps[r], score=1.0)
            sim_f.append(float(arcface.embed(fk[fi], face) @ src_emb))
            sim_r.append(float(arcface.embed(rl[fi], face) @ src_emb))

    def mean(x, nd):
        return round(float(np.mean(x)), nd) if x else None

    return {"face_psnr": mean(psnrs, 2), "face_ssim": mean(ssims, 4), "id_sim_fake": mean(sim_f, 4),
            "id_sim_real": mean(sim_r, 4)}
