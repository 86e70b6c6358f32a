"""Face swappers (registry). Both are causal, frame by frame, like a live swapper."""
from ...registry import Registry

SWAPPERS: Registry = Registry("swapper")
SWAPPERS.register("mesh", "vcbench.generate.swap.mesh:MeshSwapper",
                  help="offline default: 478-point mesh warp, LAB colour transfer, Poisson blend (FF++ FaceSwap-like)")
SWAPPERS.register("inswapper", "vcbench.generate.swap.inswapper:InswapperSwapper",
                  help="Deep-Live-Cam's method: inswapper_128.onnx + ArcFace (user-supplied files)")


def build_swapper(name: str, **kw):
    return SWAPPERS.get(name)(**kw)


__all__ = ["SWAPPERS", "build_swapper"]
