"""A bring-your-own detector for `vcbench benchmark --model NAME=examples/detector.py`.

vcbench imports this file from its path and calls ``predict(video_path) -> float``, the
probability that the video is fake (a class with ``predict_batch(paths) -> list[float]`` works
too). This one is a deliberately naive baseline that needs no model file: the share of
high-frequency energy in the frames' luma (swapped faces are often blended and smoothed), mapped
to [0, 1]. It shows the plug-in route working; it is not a good detector.
"""
from __future__ import annotations

import math

import av
import numpy as np


def predict(video_path: str) -> float:
    energies = []
    with av.open(video_path) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            if i % 10:
                continue
            y = frame.to_ndarray(format="gray").astype(np.float32)
            lap = y[1:-1, 1:-1] * 4 - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
            energies.append(float(np.mean(np.abs(lap))) / (float(np.mean(y)) + 1.0))
            if len(energies) >= 12:
                break
    if not energies:
        raise ValueError(f"{video_path}: no frames")
    sharpness = float(np.mean(energies))
    return 1.0 / (1.0 + math.exp(40.0 * (sharpness - 0.05)))     # smoother -> more likely fake
