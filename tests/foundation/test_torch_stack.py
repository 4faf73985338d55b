"""The torchvision trap: PyPI's CUDA torchvision next to CPU torch must import once detectors is imported."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import detectors  # installs the hook; must not import torch by itself
assert "torch" not in sys.modules, "importing detectors must stay cheap"
import torch, torchvision, torchvision.transforms  # noqa: F401
import transformers, sentence_transformers, open_clip  # noqa: F401
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
keep = torch.ops.torchvision.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep
print("ok")
"""


def test_torch_stack_imports_after_detectors() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
