"""Face backends (registry), tracking, 5-point alignment and the face-track cache."""
from .backends import BACKENDS
from .base import Face, FaceBackend, iou
from .tracking import Track, VideoTracks, build_tracks, track_video

__all__ = ["BACKENDS", "Face", "FaceBackend", "Track", "VideoTracks", "build_tracks", "iou", "track_video"]
