"""vcbench: deepfake detection under video-call conditions.

Stages (each a subpackage and a CLI command): generate -> finetune -> benchmark -> report.
Importing this package is cheap: heavy libraries (torch, cv2, mediapipe) load on first use.
"""
__version__ = "0.1.0"
