"""The registered network architectures and named weights, in one table (no torch import:
``vcbench --help`` and the registry read it).

Each entry: the network's shape (its module's config dataclass, which holds the input its weights
expect, ``preprocess``), a line of help, the builder and the ``checkpoint_filter_fn`` of its module
(timm's order: modules -> filter -> builder -> registered names). Named weight tags let results
cite which weights a number came from, and what they were trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .preprocess import TEMPLATE_224, Preprocess


@dataclass(frozen=True)
class ArchConfig:
    """Depth/width/kernels of an I3D-R50-shaped network."""

    blocks: tuple[int, int, int, int] = (3, 4, 6, 3)
    temporal_kernels: tuple[tuple[int, ...], ...] = ((3, 3, 3), (3, 1, 3, 1), (3, 1, 3, 1, 3, 1), (1, 3, 1))
    width: int = 64               # channels of the stem; stage s has width*2**(s-2) inner, 4x that out
    stem_kernel_t: int = 5
    dropout: float = 0.5
    preprocess: Preprocess = field(default_factory=Preprocess)


@dataclass(frozen=True)
class EffNetConfig:
    """An EfficientNet of efficientnet-pytorch (the package SBI and DeepfakeBench build on, so key
    names and "same" padding are theirs). ``layout``: ``sbi`` = SBI's ``Detector`` (``net``, a
    2-class EfficientNet); ``dfb`` = DeepfakeBench's ``efficientnetb4`` (``backbone.efficientnet``
    with its stem replaced by an unpadded conv and no ``_fc``, then ``backbone.last_layer``).
    ``width``/``depth``/``image_size`` override the variant's (tiny variants)."""

    variant: str = "efficientnet-b4"
    layout: str = "sbi"
    width: float | None = None
    depth: float | None = None
    image_size: int | None = None
    preprocess: Preprocess = field(default_factory=Preprocess)


@dataclass(frozen=True)
class XceptionConfig:
    """DeepfakeBench's Xception (FaceForensics++'s, mode ``original``): entry, ``middle`` middle-flow
    blocks (8 as released), exit. ``widths`` = (conv1, conv2, block1, block2, block3, block12, conv3,
    conv4) channels; smaller for the tiny variant."""

    widths: tuple[int, ...] = (32, 64, 128, 256, 728, 1024, 1536, 2048)
    middle: int = 8
    preprocess: Preprocess = field(default_factory=Preprocess)


@dataclass(frozen=True)
class FTCNConfig:
    """FTCN's I3D-R50 with every spatial kernel 1 and s5 removed (``stop_point 5``), stages s2-s4
    as released, and its Temporal Transformer head (``depth``, heads x head size, MLP width)."""

    temporal_kernels: tuple[tuple[int, ...], ...] = ((3, 3, 3), (3, 1, 3, 1), (3, 1, 3, 1, 3, 1))
    width: int = 64
    stem_kernel_t: int = 5
    tt_depth: int = 1
    tt_heads: int = 16
    tt_dim_head: int = 64
    tt_mlp: int = 2048
    preprocess: Preprocess = field(default_factory=Preprocess)


#: SBI's input (its inference_video.py / preprocess.py): 32 frames sampled evenly, every face at
#: least half the largest one's area, the RetinaFace box grown by a quarter (an eighth each side),
#: resized to 380 x 380 without keeping the aspect, pixels / 255; per frame the most fake face,
#: the mean over frames
SBI_INPUT = Preprocess(clip_len=1, size=380, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0), box_scale=1.25,
                       input="frames", crop="box", aggregate="max-face-mean-frame", frames=32, faces="half-largest")
#: DeepfakeBench's test input: 32 frames per video, the largest face aligned and cropped to 256 px
#: (here the 5-point similarity to the 256 px template; DeepfakeBench aligns dlib's 81 points),
#: normalised with mean 0.5 / std 0.5 on [0, 1]; the video score is the mean over frames
DFB_INPUT = Preprocess(clip_len=1, size=256, mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5), box_scale=2.0,
                       template=TEMPLATE_224, input="frames", crop="align5", aggregate="mean", frames=32,
                       faces="largest")


@dataclass(frozen=True)
class Arch:
    arch: object
    help: str
    builder: str = "vcbench.models.altfreezing:build_altfreezing"
    filter: str = "vcbench.models.altfreezing:checkpoint_filter_fn"
    #: the freezing schedules its parameters support (alternate needs split spatial/temporal kernels)
    freezings: tuple[str, ...] = ("alternate", "none", "head", "gradual")


ARCHS: dict[str, Arch] = {
    # the released network: 27,225,921 parameters, 320 tensors
    "altfreezing": Arch(ArchConfig(), "AltFreezing I3D-R50 as released (32 x 224 px clips)"),
    # small variants for CPU tests and the demo; never substituted for the official one
    "altfreezing-small": Arch(ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (3,), (3,), (3,)), width=16,
                                         preprocess=Preprocess(clip_len=16, size=112)),
                              "small I3D variant for CPU (16 x 112 px); not the official network"),
    "altfreezing-tiny": Arch(ArchConfig(blocks=(1, 1, 1, 1), temporal_kernels=((3,), (1,), (3,), (1,)), width=8,
                                        stem_kernel_t=3, preprocess=Preprocess(clip_len=8, size=64)),
                             "tiny I3D variant for tests (8 x 64 px); not the official network"),
    "ftcn": Arch(FTCNConfig(), "FTCN with its Temporal Transformer (ICCV 2021) as released (32 x 224 px clips)",
                 "vcbench.models.ftcn:build_ftcn", "vcbench.models.ftcn:checkpoint_filter_fn", ("none", "head", "gradual")),
    "ftcn-tiny": Arch(FTCNConfig(((3,), (1,), (3,)), 8, 3, 1, 2, 8, 32, Preprocess(clip_len=8, size=64)),
                      "tiny FTCN-shaped network for tests (8 x 64 px); not the released network",
                      "vcbench.models.ftcn:build_ftcn", "vcbench.models.ftcn:checkpoint_filter_fn",
                      ("none", "head", "gradual")),
    "sbi": Arch(EffNetConfig(preprocess=SBI_INPUT), "Self-Blended Images (CVPR 2022): EfficientNet-B4, 380 px "
                "face-box frames, as released", "vcbench.models.efficientnet:build_efficientnet",
                "vcbench.models.efficientnet:checkpoint_filter_fn", ("none", "head", "gradual")),
    "sbi-tiny": Arch(EffNetConfig("efficientnet-b0", "sbi", 0.25, 0.25, 64,
                                  preprocess=replace(SBI_INPUT, size=64, frames=8)),
                     "tiny SBI-shaped EfficientNet for tests (64 px); not the released network",
                     "vcbench.models.efficientnet:build_efficientnet", "vcbench.models.efficientnet:checkpoint_filter_fn",
                     ("none", "head", "gradual")),
    "dfb-effnb4": Arch(EffNetConfig(layout="dfb", preprocess=DFB_INPUT), "DeepfakeBench's EfficientNet-B4 detector, "
                       "256 px aligned frames, as released", "vcbench.models.efficientnet:build_efficientnet",
                       "vcbench.models.efficientnet:checkpoint_filter_fn", ("none", "head", "gradual")),
    "dfb-effnb4-tiny": Arch(EffNetConfig("efficientnet-b0", "dfb", 0.25, 0.25, 64,
                                         preprocess=replace(DFB_INPUT, size=64, frames=8)),
                            "tiny DeepfakeBench-shaped EfficientNet for tests (64 px); not the released network",
                            "vcbench.models.efficientnet:build_efficientnet",
                            "vcbench.models.efficientnet:checkpoint_filter_fn", ("none", "head", "gradual")),
    "dfb-xception": Arch(XceptionConfig(preprocess=DFB_INPUT), "DeepfakeBench's Xception detector, 256 px aligned "
                         "frames, as released", "vcbench.models.xception:build_xception",
                         "vcbench.models.xception:checkpoint_filter_fn", ("none", "head", "gradual")),
    "dfb-xception-tiny": Arch(XceptionConfig((8, 8, 16, 16, 24, 32, 32, 48), 1,
                                             replace(DFB_INPUT, size=64, frames=8)),
                              "tiny DeepfakeBench-shaped Xception for tests (64 px); not the released network",
                              "vcbench.models.xception:build_xception", "vcbench.models.xception:checkpoint_filter_fn",
                              ("none", "head", "gradual")),
}


@dataclass(frozen=True)
class WeightTag:
    """Named weights a result can cite. ``sha256`` pins the file; None where it could not be
    checked here (the release's file cannot be downloaded on this project's machines)."""

    name: str
    arch: str
    source: str
    sha256: str | None = None
    #: the public data the weights were trained on, by name (the benchmark's overlap check builds
    #: the record: ``benchmark.overlap.TRAINING_SETS``); "" when not known
    trained_on: str = ""


WEIGHT_TAGS: dict[str, WeightTag] = {
    "altfreezing.official": WeightTag(
        "altfreezing.official", "altfreezing",
        "AltFreezing release (CVPR 2023), checkpoints/model.pth, trained on FF++ c23 (4 methods)",
        trained_on="ffpp-c23-train"),
    "sbi.official": WeightTag(
        "sbi.official", "sbi",
        "Self-Blended Images release (CVPR 2022), FFc23.tar / FFraw.tar, {\"model\": state_dict}: trained on the "
        "real videos of FF++'s train split, self-blended", trained_on="ffpp-c23-train-reals"),
    "dfb-xception.official": WeightTag(
        "dfb-xception.official", "dfb-xception",
        "DeepfakeBench release, xception_best.pth: trained on FF++ c23 (4 methods)", trained_on="ffpp-c23-train"),
    "dfb-effnb4.official": WeightTag(
        "dfb-effnb4.official", "dfb-effnb4",
        "DeepfakeBench release, effnb4_best.pth: trained on FF++ c23 (4 methods)", trained_on="ffpp-c23-train"),
    "ftcn.official": WeightTag(
        "ftcn.official", "ftcn", "FTCN release, checkpoints/ftcn_tt.pth: trained on FF++ c23 (4 methods)",
        trained_on="ffpp-c23-train"),
}


def tag_of_sha256(digest: str) -> str | None:
    """The tag whose pinned SHA-256 matches, if any."""
    return next((t.name for t in WEIGHT_TAGS.values() if t.sha256 and t.sha256 == digest), None)
