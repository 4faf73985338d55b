"""Make PyPI's torchvision importable next to the CPU build of torch.

The torchvision wheel on PyPI is a CUDA build whose compiled ops (``_C.so``)
fail to load next to the CPU torch; ``import torchvision`` then dies with
``operator torchvision::nms does not exist`` because its fake-tensor
registrations assume the ops were defined. transformers, sentence-transformers,
timm and open_clip all import torchvision, so this breaks the whole torch stack.

We declare the two op schemas torchvision registers unconditionally (``nms``,
``qnms``) and give ``nms`` a plain CPU kernel, *before* torchvision is first
imported. An import hook does it lazily, so importing ``detectors`` does not
import torch. When torchvision's own ops did load (a matching build), nothing
is declared.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_applied = False
_library: Any = None  # keeps the torch.library.Library alive for the process


def _greedy_nms(dets: Any, scores: Any, iou_threshold: float) -> Any:
    import torch

    if dets.numel() == 0:
        return torch.empty((0,), dtype=torch.int64)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep: list[int] = []
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool)
    for idx in order.tolist():
        if suppressed[idx]:
            continue
        keep.append(idx)
        xx1 = torch.maximum(x1[idx], x1)
        yy1 = torch.maximum(y1[idx], y1)
        xx2 = torch.minimum(x2[idx], x2)
        yy2 = torch.minimum(y2[idx], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[idx] + areas - inter).clamp(min=1e-12)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _torchvision_ops_load() -> bool:
    """True when torchvision's compiled ops would load in this process."""
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torchvision: nothing to fix
    for location in spec.submodule_search_locations:
        lib_path = importlib.machinery.PathFinder.find_spec("_C", [location])
        if lib_path is not None and lib_path.origin:
            try:
                torch.ops.load_library(lib_path.origin)
                return True
            except (OSError, RuntimeError):
                return False
    return False


def ensure_torchvision_ops() -> None:
    """Declare torchvision's op schemas if its compiled ops cannot load. Idempotent."""
    global _applied, _library
    if _applied:
        return
    _applied = True
    import torch

    if hasattr(torch.ops, "torchvision") and hasattr(torch.ops.torchvision, "nms"):
        return
    if _torchvision_ops_load():
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.impl("nms", _greedy_nms, "CPU")
    _library = lib


class _TorchvisionHook(importlib.abc.MetaPathFinder):
    """Runs :func:`ensure_torchvision_ops` just before ``torchvision`` is imported."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            ensure_torchvision_ops()
        return None  # let the normal finders import it


def install_import_hook() -> None:
    """Arrange for the fix to run before torchvision's first import (or now, if too late)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionHook())
