"""Face backends (registry), tracking, 5-point alignment and the face-track cache."""
from ..registry import Registry
from .base import Face, FaceBackend, iou
from .tracking import Track, VideoTracks, build_tracks, track_video

BACKENDS: Registry = Registry("face backend")
BACKENDS.register("mediapipe", "vcbench.faces.mediapipe_backend:MediapipeBackend",
                  help="offline default: mediapipe 0.10.21 detector + 478-point mesh")
BACKENDS.register("insightface", "vcbench.faces.insightface_backend:InsightfaceBackend",
                  help="an insightface pack under ~/.insightface/models (e.g. buffalo_l)")

__all__ = ["BACKENDS", "Face", "FaceBackend", "Track", "VideoTracks", "build_tracks", "iou", "track_video"]
