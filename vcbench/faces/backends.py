"""The face-backend registry (names -> lazily imported classes)."""
from ..registry import Registry

BACKENDS: Registry = Registry("face backend")
BACKENDS.register("mediapipe", "vcbench.faces.mediapipe_backend:MediapipeBackend",
                  help="offline default: mediapipe 0.10.21 detector + 478-point mesh")
BACKENDS.register("insightface", "vcbench.faces.insightface_backend:InsightfaceBackend",
                  help="an insightface pack under ~/.insightface/models (e.g. buffalo_l)")
