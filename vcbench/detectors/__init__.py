"""The one detector contract: everything ``--model`` can name is a :class:`Detector` (see
``base.py``). Importing this package imports no torch; a network is loaded when it first scores."""
from __future__ import annotations

from .base import (DETECTORS, ENTRY_POINT_GROUP, Detector, DetectorSettings, Prediction, checked, load_detectors,
                   load_plugins, parse_spec)

__all__ = ["DETECTORS", "ENTRY_POINT_GROUP", "Detector", "DetectorSettings", "Prediction", "checked",
           "load_detectors", "load_plugins", "parse_spec"]
