"""AltFreezing: the network against an independent functional reference, every checkpoint format,
and loud failures."""

import pytest
import torch
import torch.nn.functional as F

from vcbench.errors import CheckpointError
from vcbench.models import load_network
from vcbench.models.altfreezing import build_altfreezing, checkpoint_filter_fn, parameter_groups
from vcbench.models.checkpoint import save_checkpoint

TEMPORAL = {2: (3, 3, 3), 3: (3, 1, 3, 1), 4: (3, 1, 3, 1, 3, 1), 5: (1, 3, 1)}


def randomise(model, seed=0):
    """Random weights AND random BN statistics, so a wrong key mapping cannot hide."""
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    for k, v in sd.items():
        if v.dtype.is_floating_point:
            if k.endswith("running_var"):
                sd[k] = torch.rand(v.shape, generator=g) + 0.5
            elif k.endswith(".weight") and v.ndim == 1:   # BN gamma: keep activations O(1)
                sd[k] = torch.rand(v.shape, generator=g) * 0.3 + 0.1
            else:
                sd[k] = torch.randn(v.shape, generator=g) * (0.1 if v.ndim == 1 else (2.0 / v[0].numel()) ** 0.5)
    model.load_state_dict(sd)
    return model.eval()


def reference_forward(sd, x):
    """The released i3d_ori computed from the reference facts with functional ops only."""
    def bn(x, p):
        return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
                            False, 0.0, 1e-5)
    st = "resnet.s1.pathway0_stem."
    x = F.relu(bn(F.conv3d(x, sd[st + "conv.weight"], stride=(1, 2, 2), padding=(2, 3, 3)), st + "bn"))
    x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    for s in (2, 3, 4, 5):
        for i, kt in enumerate(TEMPORAL[s]):
            p = f"resnet.s{s}.pathway0_res{i}."
            stride = 2 if (i == 0 and s > 2) else 1
            h = F.relu(bn(F.conv3d(x, sd[p + "branch2.a.weight"], padding=(kt // 2, 0, 0)), p + "branch2.a_bn"))
            h = F.relu(bn(F.conv3d(h, sd[p + "branch2.b.weight"], stride=(1, stride, stride), padding=(0, 1, 1)),
                          p + "branch2.b_bn"))
            h = bn(F.conv3d(h, sd[p + "branch2.c.weight"]), p + "branch2.c_bn")
            short = bn(F.conv3d(x, sd[p + "branch1.weight"], stride=(1, stride, stride)), p + "branch1_bn") if i == 0 else x
            x = F.relu(short + h)
        if s == 2:
            x = F.max_pool3d(x, (2, 1, 1), (2, 1, 1))
    x = F.avg_pool3d(x, (16, 7, 7), stride=1)                 # the release's fixed head pool
    x = x.permute(0, 2, 3, 4, 1)
    x = F.linear(x, sd["resnet.head.projection.weight"], sd["resnet.head.projection.bias"])
    return x.mean(dim=(1, 2, 3)).view(x.shape[0], -1)


def test_official_network_shape_and_partition():
    m = build_altfreezing("altfreezing")
    sd = m.state_dict()
    assert len(sd) == 320 and sum(p.numel() for p in m.parameters()) == 27_225_921
    assert sd["resnet.head.projection.weight"].shape == (1, 2048)
    g = parameter_groups(m)
    params = dict(m.named_parameters())
    assert sum(params[n].numel() for n in g["spatial"]) == 11_317_248
    assert sum(params[n].numel() for n in g["temporal"]) == 5_517_312
    assert "resnet.s1.pathway0_stem.conv.weight" in g["always"]


@torch.no_grad()
def test_official_logits_match_functional_reference():
    torch.manual_seed(0)
    m = randomise(build_altfreezing("altfreezing"))
    x = torch.randn(1, 3, 32, 224, 224)
    ours = m(x)
    ref = reference_forward(m.state_dict(), x)
    assert ours.shape == (1, 1)
    bias = m.state_dict()["resnet.head.projection.bias"]
    assert 0.01 < (ours - bias).abs().item() < 100, "the features, not just the bias, must reach the logit"
    assert torch.allclose(ours, ref, atol=1e-4, rtol=0), (ours, ref)


def _tiny():
    return randomise(build_altfreezing("altfreezing-tiny"), seed=1)


def formats(sd):
    pre = {"resnet." + k[len("resnet."):]: v for k, v in sd.items()}
    return {
        "plain": pre,
        "state_dict+module": {"state_dict": {"module." + k: v for k, v in pre.items()}},
        "state_dict+network": {"state_dict": {"network." + k: v for k, v in pre.items()}},
        "wrapper-dump": {**{"network." + k: v for k, v in pre.items()},
                         **{"_warped_network." + k: v.clone() for k, v in pre.items()}},
        "cs229": {"model_state_dict": {**{"network." + k: v for k, v in pre.items()},
                                       **{"_warped_network." + k: v.clone() for k, v in pre.items()}},
                  "epoch": 3, "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]}},
    }


@torch.no_grad()
def test_every_checkpoint_format_loads_to_identical_logits(tmp_path):
    m = _tiny()
    x = torch.randn(2, 3, 8, 64, 64)
    want = m(x)
    for name, obj in formats(m.state_dict()).items():
        p = tmp_path / f"{name}.pth"
        torch.save(obj, p)
        got = load_network("altfreezing-tiny", p)(x)
        assert torch.equal(got, want), name
    p = save_checkpoint(m, tmp_path / "vcbench.pth", provenance={"steps": 7})
    loaded = load_network("altfreezing-tiny", p)
    assert torch.equal(loaded(x), want) and loaded.weights.provenance == {"steps": 7}
    assert loaded.preprocess == m.preprocess


def test_wrapper_dump_has_640_keys_for_the_official_network():
    sd = build_altfreezing("altfreezing").state_dict()
    dump = formats(sd)["wrapper-dump"]
    assert len(dump) == 640
    assert set(checkpoint_filter_fn(dump)) == set(sd)


def test_missing_extra_and_misshaped_keys_are_listed(tmp_path):
    sd = dict(_tiny().state_dict())
    bad = dict(sd)
    del bad["resnet.s3.pathway0_res0.branch2.b.weight"]
    bad["resnet.head.extra.weight"] = torch.zeros(1)
    bad["resnet.head.projection.weight"] = torch.zeros(1, 7)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as e:
        load_network("altfreezing-tiny", tmp_path / "bad.pth")
    msg = str(e.value)
    assert "bad.pth" in msg and "1 missing: resnet.s3.pathway0_res0.branch2.b.weight" in msg
    assert "1 unexpected: resnet.head.extra.weight" in msg
    assert "resnet.head.projection.weight (1, 7) != (1, 256)" in msg


def test_another_architecture_is_refused(tmp_path):
    torch.save(_tiny().state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(CheckpointError, match="does not fit 'altfreezing-small'"):
        load_network("altfreezing-small", tmp_path / "tiny.pth")
    save_checkpoint(_tiny(), tmp_path / "v.pth")
    with pytest.raises(CheckpointError, match="a 'altfreezing-tiny' checkpoint, not 'altfreezing-small'"):
        load_network("altfreezing-small", tmp_path / "v.pth")
    torch.save({"conv1.weight": torch.zeros(3), "fc.weight": torch.zeros(2)}, tmp_path / "xception.pth")
    with pytest.raises(CheckpointError, match="0 of"):
        load_network("altfreezing-tiny", tmp_path / "xception.pth")


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_code_running_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"x": Evil(str(marker))}}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused"):
        load_network("altfreezing-tiny", tmp_path / "evil.pth")
    assert not marker.exists()


def test_truncated_and_empty_checkpoints(tmp_path):
    torch.save(_tiny().state_dict(), tmp_path / "ok.pth")
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="trunc.pth: corrupt or truncated"):
        load_network("altfreezing-tiny", tmp_path / "trunc.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file"):
        load_network("altfreezing-tiny", tmp_path / "empty.pth")


def test_wrapper_copies_that_disagree_are_refused():
    sd = _tiny().state_dict()
    dump = formats(sd)["wrapper-dump"]
    k = "_warped_network.resnet.head.projection.bias"
    dump[k] = dump[k] + 1
    with pytest.raises(CheckpointError, match="disagree"):
        checkpoint_filter_fn(dump)


# --- the detector API a trainer uses ---------------------------------------------------------

def test_fresh_weights_are_initialised_like_torchvision_video_resnets():
    import math

    torch.manual_seed(0)
    net = build_altfreezing("altfreezing")
    conv = net.resnet.s3.pathway0_res0.branch2.b.weight            # (128, 128, 1, 3, 3)
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3] * conv.shape[4]
    assert conv.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
    bn = net.resnet.s3.pathway0_res0.branch2.c_bn
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
    head = net.resnet.head.projection
    assert head.weight.std().item() == pytest.approx(0.01, rel=0.1) and torch.all(head.bias == 0)
    zero = build_altfreezing("altfreezing-tiny")
    zero.init_weights(zero_init_residual=True)
    assert torch.all(zero.resnet.s2.pathway0_res0.branch2.c_bn.weight == 0)
    torch.manual_seed(3)
    a = build_altfreezing("altfreezing-tiny").state_dict()
    torch.manual_seed(3)
    b = build_altfreezing("altfreezing-tiny").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "a fixed seed gives the same fresh network"


def test_forward_features_head_and_reset_classifier():
    torch.manual_seed(0)
    net = build_altfreezing("altfreezing-tiny").eval()
    x = torch.randn(2, 3, 8, 64, 64)
    feats = net.forward_features(x)
    assert feats.ndim == 5 and feats.shape[:2] == (2, net.num_features)
    assert torch.equal(net.forward_head(feats), net(x))
    assert net.forward_head(feats, pre_logits=True).shape == (2, net.num_features)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.reset_classifier()
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"resnet.head.projection.weight"}            # bias is re-zeroed, the body untouched


def test_preprocess_round_trips_through_a_checkpoint(tmp_path):
    from vcbench.models import load_network
    from vcbench.models.preprocess import Preprocess

    net = build_altfreezing("altfreezing-tiny")
    custom = Preprocess(clip_len=8, size=64, mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0), box_scale=1.8)
    net.preprocess = custom
    ck = save_checkpoint(net, tmp_path / "t.pth")
    loaded = load_network("altfreezing-tiny", ck)
    assert loaded.preprocess == custom and Preprocess.from_dict(custom.to_dict()) == custom
    assert loaded.weights.checkpoint == str(ck) and len(loaded.weights.sha256) == 64
    assert loaded.weights.tag is None                                # not the pinned official file
