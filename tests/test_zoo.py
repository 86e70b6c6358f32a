"""The detector zoo: each network built as its release builds it (written out here from the release's
own definitions or the package it uses), seeded weights saved in the published layout, loaded
through vcbench's filter, and held to the release's output; the frame detectors' preprocessing as
released; strict loading that names what does not fit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vcbench.errors import CheckpointError
from vcbench.models import load_network

from conftest import has_mediapipe

efficientnet_pytorch = pytest.importorskip("efficientnet_pytorch")


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    """Random weights AND BatchNorm statistics (a fresh net's running stats are 0/1 and would
    hide a wrongly wired norm)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in module.state_dict().items():
            if v.dtype.is_floating_point:
                if k.endswith("running_var"):
                    v.copy_(torch.rand(v.shape, generator=g) + 0.5)
                else:
                    v.copy_(torch.randn(v.shape, generator=g) * (0.05 if v.ndim > 1 else 0.1))
    return module.eval()


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> bool:
    return float((a - b).abs().max()) <= rel * max(1.0, float(b.abs().max()))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, carphone):
    """carphone's face tracks (40 frames) in a cache the scoring checks share."""
    if not has_mediapipe:
        pytest.skip("needs mediapipe's bundled face models")
    from vcbench.faces.tracking import track_video

    cache = tmp_path_factory.mktemp("zoo-cache")
    track_video(carphone, max_frames=40, cache_dir=cache)
    return carphone, cache


def _scores_a_video(net, tracked) -> None:
    """The released network, loaded from its published layout, scores a real video end to end as
    its input declares (frames sampled or clips cut, its crop and size)."""
    from vcbench.scoring import score_videos

    video, cache = tracked
    (res,), batch = score_videos([video], network=net, device="cpu", cache_dir=cache, max_frames=40, clips=1,
                                 precision="fp32")
    pp = net.preprocess
    assert not batch.failed and 0 < res.score < 1
    assert res.n_clips == (len({int(i) for i in np.linspace(0, 39, pp.frames).astype(int)}) if pp.input == "frames"
                           else 1)


# --- SBI: its Detector is EfficientNet-B4 (efficientnet-pytorch), 2 classes, softmax[:, 1] ----------

class SBIRelease(nn.Module):
    """SBI's src/inference/model.py Detector (from_name: the weights are ours)."""

    def __init__(self):
        super().__init__()
        self.net = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b4", num_classes=2)

    def forward(self, x):
        return self.net(x)


def test_sbi_loads_its_tar_and_gives_the_releases_fakeness(tmp_path, tracked):
    release = _seeded(SBIRelease(), 0)
    tar = tmp_path / "FFc23.tar"
    torch.save({"model": release.state_dict()}, tar)                  # as published
    ours = load_network("sbi", tar)
    x = torch.rand(2, 3, 380, 380)                                     # pixels / 255, as released
    with torch.inference_mode():
        want = release(x).softmax(1)[:, 1]
        got = torch.sigmoid(ours(x[:, :, None])).squeeze(1)
    assert _close(got, want), (got, want)
    assert ours.preprocess.size == 380 and ours.preprocess.std == (255.0, 255.0, 255.0)
    _scores_a_video(ours, tracked)
    # a state dict saved from DataParallel loads too; a head of the wrong shape is named
    torch.save({"model": {"module." + k: v for k, v in release.state_dict().items()}}, tmp_path / "dp.tar")
    load_network("sbi", tmp_path / "dp.tar")
    sd = dict(release.state_dict())
    sd["net._fc.weight"] = torch.zeros(3, 1792)
    torch.save({"model": sd}, tmp_path / "bad.tar")
    with pytest.raises(CheckpointError, match=r"bad.tar: .*1 mis-shaped: net._fc.weight \(3, 1792\) != \(2, 1792\)"):
        load_network("sbi", tmp_path / "bad.tar")


# --- DeepfakeBench's efficientnetb4: its stem replaced by an unpadded conv, _fc an Identity -------------

class DFBEffNetB4Release(nn.Module):
    """DeepfakeBench's EfficientNetB4 backbone inside its EfficientDetector (keys ``backbone.*``)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        eff = efficientnet_pytorch.EfficientNet.from_name("efficientnet-b4")
        eff._conv_stem = nn.Conv2d(3, 48, kernel_size=3, stride=2, bias=False)
        eff._fc = nn.Identity()
        self.backbone.efficientnet = eff
        self.backbone.last_layer = nn.Linear(1792, 2)

    def forward(self, x):
        f = self.backbone.efficientnet.extract_features(x)
        return self.backbone.last_layer(F.adaptive_avg_pool2d(f, (1, 1)).flatten(1))


def test_dfb_effnb4_gives_the_releases_probability(tmp_path, tracked):
    release = _seeded(DFBEffNetB4Release(), 1)
    path = tmp_path / "effnb4_best.pth"
    torch.save({"module." + k: v for k, v in release.state_dict().items()}, path)   # trained with DataParallel
    ours = load_network("dfb-effnb4", path)
    x = torch.randn(2, 3, 256, 256)
    with torch.inference_mode():
        assert _close(torch.sigmoid(ours(x[:, :, None])).squeeze(1), release(x).softmax(1)[:, 1])
    _scores_a_video(ours, tracked)


# --- DeepfakeBench's Xception (FaceForensics++'s), written out from its definition ---------------------

class _Sep(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv1 = nn.Conv2d(i, i, 3, 1, 1, groups=i, bias=False)
        self.pointwise = nn.Conv2d(i, o, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class _XBlock(nn.Module):
    def __init__(self, i, o, reps, stride, start_relu=True, grow_first=True):
        super().__init__()
        self.skip = nn.Conv2d(i, o, 1, stride=stride, bias=False) if (i != o or stride != 1) else None
        self.skipbn = nn.BatchNorm2d(o) if self.skip is not None else None
        layers, w = [], i
        if grow_first:
            layers += [nn.ReLU(), _Sep(i, o), nn.BatchNorm2d(o)]
            w = o
        for _ in range(reps - 1):
            layers += [nn.ReLU(), _Sep(w, w), nn.BatchNorm2d(w)]
        if not grow_first:
            layers += [nn.ReLU(), _Sep(i, o), nn.BatchNorm2d(o)]
        if not start_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)

    def forward(self, x):
        return self.rep(x) + (self.skipbn(self.skip(x)) if self.skip is not None else x)


class XceptionRelease(nn.Module):
    def __init__(self):
        super().__init__()
        b = self.backbone = nn.Module()
        b.conv1, b.bn1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False), nn.BatchNorm2d(32)
        b.conv2, b.bn2 = nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64)
        b.block1 = _XBlock(64, 128, 2, 2, start_relu=False)
        b.block2 = _XBlock(128, 256, 2, 2)
        b.block3 = _XBlock(256, 728, 2, 2)
        for k in range(4, 12):
            setattr(b, f"block{k}", _XBlock(728, 728, 3, 1))
        b.block12 = _XBlock(728, 1024, 2, 2, grow_first=False)
        b.conv3, b.bn3 = _Sep(1024, 1536), nn.BatchNorm2d(1536)
        b.conv4, b.bn4 = _Sep(1536, 2048), nn.BatchNorm2d(2048)
        b.last_linear = nn.Linear(2048, 2)
        b.adjust_channel = nn.Sequential(nn.Conv2d(2048, 512, 1, 1), nn.BatchNorm2d(512), nn.ReLU())

    def forward(self, x):
        b = self.backbone
        x = F.relu(b.bn1(b.conv1(x)))
        x = F.relu(b.bn2(b.conv2(x)))
        for k in range(1, 13):
            x = getattr(b, f"block{k}")(x)
        x = F.relu(b.bn3(b.conv3(x)))
        x = b.bn4(b.conv4(x))
        return b.last_linear(F.adaptive_avg_pool2d(F.relu(x), 1).flatten(1))


def test_dfb_xception_keys_and_probability_are_the_releases(tmp_path, tracked):
    release = _seeded(XceptionRelease(), 2)
    path = tmp_path / "xception_best.pth"
    torch.save(release.state_dict(), path)
    ours = load_network("dfb-xception", path)
    assert list(ours.state_dict()) == list(release.state_dict())      # every key, in the release's order
    x = torch.randn(2, 3, 256, 256)
    with torch.inference_mode():
        assert _close(torch.sigmoid(ours(x[:, :, None])).squeeze(1), release(x).softmax(1)[:, 1])
    _scores_a_video(ours, tracked)
    sd = {k: v for k, v in release.state_dict().items() if not k.startswith("backbone.block7.")}
    torch.save(sd, tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match=r"missing: backbone.block7"):
        load_network("dfb-xception", tmp_path / "cut.pth")


# --- the frame detectors' input ----------------------------------------------------------------------

def test_the_box_crop_is_sbis_test_time_crop():
    from vcbench.models.preprocess import margin_box

    rng = np.random.default_rng(0)
    for _ in range(200):
        W, H = int(rng.integers(100, 800)), int(rng.integers(100, 800))
        x0, y0 = rng.uniform(-20, W * 0.8), rng.uniform(-20, H * 0.8)
        x1, y1 = x0 + rng.uniform(5, W / 2), y0 + rng.uniform(5, H / 2)
        w, h = x1 - x0, y1 - y0                     # SBI crop_face, phase test: margins w/4 * 0.5, h/4 * 0.5
        want = (max(0, int(x0 - w / 8)), max(0, int(y0 - h / 8)), min(W, int(x1 + w / 8) + 1), min(H, int(y1 + h / 8) + 1))
        assert tuple(margin_box(np.array([x0, y0, x1, y1]), W, H, 1.25)) == want


def test_frames_are_sampled_and_faces_kept_as_declared():
    from dataclasses import replace

    from vcbench.faces.tracking import Track
    from vcbench.models.archs import SBI_INPUT
    from vcbench.models.preprocess import frame_windows

    def tr(i, first, n, size):
        boxes = np.tile(np.array([10, 10, 10 + size, 10 + size], np.float32), (n, 1))
        return Track(i, np.arange(first, first + n), boxes, np.zeros((n, 5, 2), np.float32), np.ones(n, np.float32))

    tracks = [tr(0, 0, 100, 80), tr(1, 0, 50, 60), tr(2, 0, 100, 20)]     # areas 6400, 3600, 400
    wins = frame_windows(tracks, 100, SBI_INPUT)
    picks = sorted({int(i) for i in np.linspace(0, 99, 32).astype(int)})
    rows0 = [w[0] for w in wins[0]]
    assert rows0 == picks                                        # SBI: linspace(0, n - 1, 32), truncated
    assert 2 not in wins                                         # under half the largest face: dropped
    assert [w[0] for w in wins[1]] == [p for p in picks if p < 50]
    largest = frame_windows(tracks, 100, replace(SBI_INPUT, faces="largest"))
    assert set(largest) == {0}


@pytest.mark.skipif(not has_mediapipe, reason="needs mediapipe's bundled face models")
def test_a_frame_detector_scores_dumps_and_benchmarks_like_any_other(tmp_path, carphone, cli_runner):
    import csv

    from vcbench.cli import cli

    r = cli_runner.invoke(cli, ["score", str(carphone), "--model", "sbi-tiny", "--untrained", "--device", "cpu",
                                "--dump-clips", str(tmp_path / "dump"), "--cache-dir", str(tmp_path / "c"),
                                "-o", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    assert "8 frames per video, faces half-largest, box crops 64 px, aggregate max-face-mean-frame" in r.output
    files = sorted((tmp_path / "dump" / carphone.stem).glob("*.npz"))
    picks = sorted({int(i) for i in np.linspace(0, 119, 8).astype(int)})
    got = sorted(int(np.load(f)["frames"][0]) for f in files)
    assert got == picks and all(np.load(f)["clip"].shape == (1, 64, 64, 3) for f in files)
    (row,) = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert row["aggregate"] == "max-face-mean-frame" and row["clips"] == "8"
    r = cli_runner.invoke(cli, ["benchmark", "--list", "--datasets", str(tmp_path / "none.toml")])
    for name in ("sbi", "dfb-xception", "dfb-effnb4", "sbi-tiny"):
        assert name in r.output
    assert "sbi.official" in r.output and "dfb-xception.official" in r.output


# --- FTCN: the release's construction is module surgery on the PySlowFast I3D-R50 --------------------

class _TimeTransformerRelease(nn.Module):
    """FTCN's time_transformer.py TimeTransformer (depth 1, 16 heads of 64, MLP 2048), einsum-style."""

    def __init__(self, n, dim=1024, heads=16, dim_head=64, mlp=2048):
        super().__init__()
        self.heads = heads
        self.pos_embedding = nn.Parameter(torch.randn(1, n + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        attn = nn.Module()
        attn.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        attn.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.1))
        ff = nn.Module()
        ff.net = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(0.1), nn.Linear(mlp, dim), nn.Dropout(0.1))
        pre_a, pre_f = nn.Module(), nn.Module()
        pre_a.norm, pre_a.fn, pre_f.norm, pre_f.fn = nn.LayerNorm(dim), attn, nn.LayerNorm(dim), ff
        res_a, res_f = nn.Module(), nn.Module()
        res_a.fn, res_f.fn = pre_a, pre_f
        self.transformer = nn.Module()
        self.transformer.layers = nn.ModuleList([nn.ModuleList([res_a, res_f])])
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1))

    def forward(self, x):
        b, n, _ = x.shape
        x = torch.cat([self.cls_token.repeat(b, 1, 1), x], 1) + self.pos_embedding[:, :n + 1]
        (res_a, res_f), = self.transformer.layers
        a = res_a.fn.fn
        qkv = a.to_qkv(res_a.fn.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n + 1, self.heads, -1).permute(0, 2, 1, 3) for t in qkv)
        dots = torch.einsum("bhid,bhjd->bhij", q, k) * (q.shape[-1] ** -0.5)
        out = torch.einsum("bhij,bhjd->bhid", dots.softmax(-1), v).permute(0, 2, 1, 3).reshape(b, n + 1, -1)
        x = a.to_out(out) + x
        x = res_f.fn.fn.net(res_f.fn.norm(x)) + x
        return self.mlp_head(x[:, 0])


class _TransformerHeadRelease(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool3d((1, 14, 14))
        self.time_T = _TimeTransformerRelease(16)

    def forward(self, x, pre_logits=False):
        x = self.pool(x).reshape(-1, 1024, 16).permute(0, 2, 1)
        return torch.sigmoid(self.time_T(x))              # the release's head ends in a sigmoid


def _temporal_only(module: nn.Module) -> None:
    """FTCN's temporal_only_conv with spatial_count 0 and keep_stride_count 0: every conv with a
    spatial kernel becomes t x 1 x 1; a spatially strided conv keeps stride 1 and its norm is
    followed by a 1 x 2 x 2 max pool (``conv`` -> ``bn``, ``X`` -> ``X_bn``)."""
    for name, sub in list(module._modules.items()):
        if isinstance(sub, nn.Conv3d):
            kt, k, _ = sub.kernel_size
            pool = sub.stride[1] == 2
            if k == 1 and not pool:
                continue
            setattr(module, name, nn.Conv3d(sub.in_channels, sub.out_channels, (kt, 1, 1), stride=1,
                                            padding=(sub.padding[0], 0, 0), bias=sub.bias is not None))
            if pool:
                bn = "bn" if name == "conv" else f"{name}_bn"
                setattr(module, bn, nn.Sequential(getattr(module, bn), nn.MaxPool3d((1, 2, 2))))
        elif sub is not None:
            _temporal_only(sub)


def test_ftcn_is_the_release_surgery_on_the_i3d_and_gives_its_probability(tmp_path, tracked):
    from vcbench.models.altfreezing import build_altfreezing

    release = build_altfreezing("altfreezing")            # PySlowFast's I3D-R50, the release's base network
    _temporal_only(release.resnet)
    release.resnet.s5 = nn.Identity()                      # stop_point 5
    release.resnet.head = _TransformerHeadRelease()
    release = _seeded(release, 3)
    path = tmp_path / "ftcn_tt.pth"
    torch.save({"module." + k: v for k, v in release.state_dict().items()}, path)
    ours = load_network("ftcn", path)
    assert list(ours.state_dict()) == list(release.state_dict())
    x = torch.randn(1, 3, 32, 224, 224)
    with torch.inference_mode():
        assert _close(torch.sigmoid(ours(x)), release(x), rel=1e-4)
    assert ours.preprocess.clip_len == 32 and ours.preprocess.crop == "align5"      # AltFreezing's pipeline
    _scores_a_video(ours, tracked)
