"""Training augmentation: pure functions plus Random* wrappers sampled in a fixed order; the
call-like ones are the camera stage's own per-frame operations, not look-alikes."""
from __future__ import annotations

import numpy as np

from vcbench.conference.camera import mjpeg, sensor_noise
from vcbench.finetune.augment import AugmentPolicy, augment_clip, jpeg, make_policy, transforms


def _clip(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (4, 24, 20, 3), dtype=np.uint8)


def only(name: str) -> AugmentPolicy:
    """A policy that applies exactly one operation, always."""
    off = dict(jitter_p=0, blur_p=0, noise_p=0, jpeg_p=0, dropout_p=0, repeat_p=0, blend_p=0)
    return AugmentPolicy("online", **{**off, f"{name}_p": 1.0})


def test_noise_and_jpeg_are_the_cameras_operations():
    clip = _clip()
    out, label, applied = augment_clip(clip, 1, only("noise"), np.random.default_rng(5))
    r = np.random.default_rng(5)
    r.random(5)              # each wrapper's apply-or-not draw (dropout, repeat, jitter, blur, noise)
    sigma = float(r.uniform(*AugmentPolicy().noise_sigma))
    assert applied == ["noise"] and label == 1
    assert np.array_equal(out, sensor_noise(clip, sigma, r))  # one definition, frame after frame
    out, _, applied = augment_clip(clip, 0, only("jpeg"), np.random.default_rng(2))
    assert applied == ["jpeg"]
    assert any(np.array_equal(out, np.stack([mjpeg(f, q) for f in clip])) for q in range(60, 101))
    assert np.array_equal(jpeg(clip, 70)[2], mjpeg(clip[2], 70))


def test_the_blend_turns_only_reals_into_pseudo_fakes_and_never_draws_for_fakes():
    clip = _clip(1)
    out, label, applied = augment_clip(clip, 0, only("blend"), np.random.default_rng(0))
    assert label == 1 and applied == ["blend"] and not np.array_equal(out, clip)
    out, label, applied = augment_clip(clip, 1, only("blend"), np.random.default_rng(0))
    assert label == 1 and applied == [] and np.array_equal(out, clip)
    # a fake consumes no random draw for it: the next operation sees the same stream either way
    pol = AugmentPolicy("online", jitter_p=1.0, blur_p=0, noise_p=0, jpeg_p=0, dropout_p=0, repeat_p=0, blend_p=0.5)
    a, _, _ = augment_clip(clip, 1, pol, np.random.default_rng(9))
    b, _, _ = augment_clip(clip, 1, only("jitter"), np.random.default_rng(9))
    assert np.array_equal(a, b)


def test_policies_list_their_operations_in_order():
    assert [op.name for op in transforms(make_policy("online"))] == [
        "blend", "dropout", "repeat", "jitter", "blur", "noise", "jpeg"]
    assert transforms(make_policy("none")) == []
    clip = _clip(2)
    out, label, applied = augment_clip(clip, 0, make_policy("none"), np.random.default_rng(0))
    assert out is clip and label == 0 and applied == []
    # same seed, same clip, same result: the sampler's determinism rests on this
    a = augment_clip(clip, 0, make_policy("online"), np.random.default_rng(3))
    b = augment_clip(clip, 0, make_policy("online"), np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
