"""``--map SOURCE=TARGET_ID,...``: a source per face identity of a target video (Deep-Live-Cam's
map-faces).

Deep-Live-Cam clusters the ArcFace embeddings of every face in the target video (k-means, k by the
largest drop in inertia), lets the user give each cluster a source, and swaps each face with the
source of its nearest cluster. vcbench does the same on face *tracks*: a track's embedding is the
normalised mean of its faces' embeddings, tracks join an identity when their cosine similarity to
its centroid reaches ``MATCH`` (longest tracks first), and every face of a track gets its
identity's source. Clustering tracks keeps one person one identity through a video (per-frame
k-means can split a single face into two clusters). Identities are numbered left to right by
the mean centre of their faces, which is what ``TARGET_ID`` counts; faces of unmapped
identities stay real.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

#: cosine similarity at which a track joins an identity (ArcFace: one person ~0.5-0.9, two < 0.3)
MATCH = 0.4


def parse_map(entries: tuple[str, ...]) -> list[tuple[str, int]]:
    """``("alice=0", "bob=1")`` -> ``[("alice", 0), ("bob", 1)]``; ConfigError names a bad entry."""
    out: list[tuple[str, int]] = []
    for e in entries:
        src, sep, tid = str(e).partition("=")
        if not sep or not src.strip() or not tid.strip().isdigit():
            raise ConfigError(f"map entry {e!r}: expected SOURCE=TARGET_ID (a source name and a face number, "
                              "e.g. alice=0)")
        out.append((src.strip(), int(tid)))
    ids = [t for _, t in out]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"map: target face {max(ids, key=ids.count)} is given two sources")
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


class FaceIdentities:
    """Face identities of one target video, from its per-frame faces (with embeddings where
    known) and the tracks built from them."""

    def __init__(self, per_frame: list, tracks: list, width: int):
        self._of_face: dict[int, int] = {}
        track_of: dict[int, int] = {}
        embs: dict[int, list[np.ndarray]] = {}
        for k, tr in enumerate(tracks):
            for r, t in enumerate(tr.frames):
                for f in per_frame[int(t)]:
                    if np.allclose(np.asarray(f.box, np.float32), tr.boxes[r], atol=1e-3):
                        track_of[id(f)] = k
                        if f.embedding is not None:
                            embs.setdefault(k, []).append(_unit(np.asarray(f.embedding, np.float32)))
                        break
        centroids: list[np.ndarray] = []
        members: list[list[int]] = []
        label: dict[int, int] = {}
        for k in sorted(embs, key=lambda k: -len(tracks[k])):
            e = _unit(np.mean(embs[k], 0))
            sims = [float(c @ e) for c in centroids]
            j = int(np.argmax(sims)) if sims and max(sims) >= MATCH else len(centroids)
            if j == len(centroids):
                centroids.append(e)
                members.append([])
            members[j].append(k)
            label[k] = j
            n = [len(embs[m]) for m in members[j]]
            centroids[j] = _unit(np.sum([np.mean(embs[m], 0) * c for m, c in zip(members[j], n)], 0))
        # number identities left to right by the frame-weighted mean centre of their faces
        centre = []
        for j, ms in enumerate(members):
            xs = np.concatenate([(tracks[m].boxes[:, 0] + tracks[m].boxes[:, 2]) / 2 for m in ms])
            centre.append(float(xs.mean()))
        order = np.argsort(centre, kind="stable")
        renumber = {int(j): i for i, j in enumerate(order)}
        self.identities = [{"id": renumber[int(j)], "frames": int(sum(len(tracks[m]) for m in members[j])),
                            "tracks": len(members[j]), "centre_x": round(centre[j] / max(width, 1), 3)}
                           for j in order]
        self._of_face = {fid: renumber[label[k]] for fid, k in track_of.items() if k in label}
        self.of_track = {k: renumber[j] for k, j in label.items()}   # track index -> identity

    def of(self, face) -> int | None:
        """The identity number of a face of this video's per-frame lists, or None (no track or no
        embedding)."""
        return self._of_face.get(id(face))

    def describe(self) -> list[dict]:
        return self.identities
