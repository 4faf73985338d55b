"""YuNet run by ONNX Runtime: the same rows as OpenCV's ``FaceDetectorYN``, about 2x less CPU.

OpenCV's DNN module runs YuNet at 38 CPU ms a 1280x720 frame on one core; ONNX
Runtime runs the same file at 18 (``python -m bench.faces --sections runtimes``;
issue 12: YuNet was 44 % of a gate scan's CPU by a profile). Two things ``FaceDetectorYN`` does around the network are
repeated here, from its documented behaviour, and the tests compare every row
with OpenCV's (kept as the reference runtime, ``YunetDetector(runtime="opencv")``):

- **Input.** The file declares a fixed 1x3x640x640 input; the network is fully
  convolutional, so the height and width are made free in memory (the file on
  disk is untouched). The image is padded with zeros on the right and bottom
  to a multiple of 32 and fed as float BGR, 0-255, no mean or scale.
- **Decoding.** For strides 8, 16 and 32, cell (row r, column c) gives the
  score sqrt(cls * obj) (each clipped to [0, 1]), the box centre
  ((c + dx) * s, (r + dy) * s) and size (exp(dw) * s, exp(dh) * s), and five
  landmarks ((c + kx) * s, (r + ky) * s). Boxes at or over the score
  threshold go through OpenCV's NMS on integer boxes, as ``FaceDetectorYN``
  does, best first.

Rows are ``x, y, w, h, 10 landmark coordinates, score``: ``FaceDetectorYN``'s
layout. ``InferenceSession.run`` is thread-safe, so one session serves every
caller (one intra-op thread each: :func:`detectors.concurrency.ort_session_options`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detectors.base import DetectorError, ModelUnavailable
from detectors.concurrency import ort_session_options

STRIDES = (8, 16, 32)
DIVISOR = 32
TOP_K = 5000  # FaceDetectorYN's default


def _free_input_model(path: Path) -> bytes:
    """The model with its input's height and width (and the outputs' cell counts) made free."""
    import onnx

    model = onnx.load(str(path))
    (inp,) = [i for i in model.graph.input if i.name == "input"]
    dims = inp.type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for out in model.graph.output:
        out.type.tensor_type.shape.dim[1].dim_param = f"{out.name}_cells"
    return bytes(model.SerializeToString())


class OrtYunet:
    """One YuNet session; :meth:`rows` is ``FaceDetectorYN.detect`` on any image size."""

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float) -> None:
        import onnxruntime as ort

        try:
            self._session = ort.InferenceSession(
                _free_input_model(path),
                sess_options=ort_session_options(),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnx/ORT raise their own types for a bad file
            raise ModelUnavailable(f"cannot load YuNet into ONNX Runtime: {exc}") from exc
        names = {o.name for o in self._session.get_outputs()}
        wanted = [f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES]
        if not set(wanted) <= names:
            raise ModelUnavailable(f"{path.name} is not YuNet 2023mar: outputs {sorted(names)}")
        self._outputs = wanted
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def rows(self, bgr: np.ndarray) -> np.ndarray:
        """(N, 15) float32 rows for the faces in a BGR uint8 image, best score first."""
        h, w = bgr.shape[:2]
        pad_h = ((h - 1) // DIVISOR + 1) * DIVISOR
        pad_w = ((w - 1) // DIVISOR + 1) * DIVISOR
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :h, :w] = bgr.transpose(2, 0, 1)
        out = dict(
            zip(self._outputs, self._session.run(self._outputs, {"input": blob}), strict=True)
        )
        return self._decode(out, pad_w, pad_h)

    def _decode(self, out: dict[str, Any], pad_w: int, pad_h: int) -> np.ndarray:
        import cv2

        faces: list[np.ndarray] = []
        for s in STRIDES:
            cols, rows = pad_w // s, pad_h // s
            cls = np.clip(out[f"cls_{s}"].reshape(-1), 0.0, 1.0)
            obj = np.clip(out[f"obj_{s}"].reshape(-1), 0.0, 1.0)
            score = np.sqrt(cls * obj)
            if cls.size != rows * cols:  # another network under YuNet's output names
                raise DetectorError(f"YuNet stride {s}: {cls.size} cells for a {cols}x{rows} grid")
            keep = np.flatnonzero(score >= self.score_threshold)
            if keep.size == 0:
                continue
            r, c = (keep // cols).astype(np.float32), (keep % cols).astype(np.float32)
            box = out[f"bbox_{s}"].reshape(-1, 4)[keep]
            kps = out[f"kps_{s}"].reshape(-1, 10)[keep]
            cx, cy = (c + box[:, 0]) * s, (r + box[:, 1]) * s
            bw, bh = np.exp(box[:, 2]) * s, np.exp(box[:, 3]) * s
            points = np.empty_like(kps)
            points[:, 0::2] = (kps[:, 0::2] + c[:, None]) * s
            points[:, 1::2] = (kps[:, 1::2] + r[:, None]) * s
            faces.append(
                np.column_stack([cx - bw / 2, cy - bh / 2, bw, bh, points, score[keep]]).astype(
                    np.float32
                )
            )
        if not faces:
            return np.zeros((0, 15), np.float32)
        found = np.concatenate(faces)
        # FaceDetectorYN runs NMS on integer boxes (truncated, as C++'s int()).
        boxes = [[int(x), int(y), int(bw), int(bh)] for x, y, bw, bh in found[:, :4]]
        kept = cv2.dnn.NMSBoxes(
            boxes, found[:, 14].tolist(), self.score_threshold, self.nms_threshold, top_k=TOP_K
        )
        return found[np.asarray(kept, dtype=np.int64).reshape(-1)]
