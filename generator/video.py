"""Text-to-video backends behind one small interface: prompt in, RGB uint8 frames out.

Two ways to get a :class:`TextToVideo`:

* a real diffusers pipeline folder (``<models_dir>/diffusers/<name>/model_index.json``,
  e.g. a ModelScope/zeroscope text-to-video export) loaded offline;
* otherwise a **RANDOM-WEIGHT** ``TextToVideoSDPipeline`` built from tiny
  configs (UNet3DConditionModel, AutoencoderKL, CLIPTextModel and a byte-level
  CLIP tokenizer made in memory). No pretrained text-to-video weights can be
  had offline, so this model makes noise-like frames; it exists to exercise
  the whole generate -> watermark -> sign -> publish path and says so in its
  :class:`GeneratorInfo` (``random_weights=True``).

Import order: diffusers/transformers import torchvision, which needs the
``detectors`` import hook (``detectors/torch_compat.py``) installed first.
``generator`` may not import ``detectors``, so this module imports diffusers
only inside functions, and callers (``pipeline/generate.py``, tests) import
``detectors`` before calling :func:`build_text_to_video`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

TINY_MODEL_ID = "greenroom/tiny-t2v-sd-RANDOM-WEIGHTS"
MAX_SIDE = 1024
MAX_FPS = 30.0
MAX_SECONDS = 20.0


class GeneratorError(ValueError):
    """The generator cannot do what was asked; the message is safe to show."""


@dataclass(frozen=True)
class GeneratorInfo:
    """What a generator is (the same fields as ``detectors.base.ModelInfo``; generator may not import it)."""

    model_id: str
    task: str = "text-to-video"
    licence: str = ""
    input_size: tuple[int, int] | None = None
    embedding_dim: int | None = None
    notes: str = ""
    random_weights: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TextToVideo(ABC):
    """A text-to-video model."""

    info: GeneratorInfo
    # Frame sides must be multiples of this (the VAE's downsampling factor).
    size_multiple: int = 8

    @abstractmethod
    def _frames(
        self, prompt: str, n_frames: int, width: int, height: int, seed: int
    ) -> list[np.ndarray]: ...

    def generate(
        self,
        prompt: str,
        seconds: float = 2.0,
        fps: float = 8.0,
        width: int = 256,
        height: int = 256,
        seed: int = 0,
    ) -> list[np.ndarray]:
        """``round(seconds * fps)`` RGB uint8 frames of shape (height, width, 3)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise GeneratorError("prompt is empty")
        if not 0 < seconds <= MAX_SECONDS:
            raise GeneratorError(f"seconds must be in (0, {MAX_SECONDS:g}]")
        if not 1 <= fps <= MAX_FPS:
            raise GeneratorError(f"fps must be in [1, {MAX_FPS:g}]")
        m = self.size_multiple
        for name, side in (("width", width), ("height", height)):
            if not (isinstance(side, int) and 16 <= side <= MAX_SIDE and side % m == 0):
                raise GeneratorError(f"{name} must be a multiple of {m} in [16, {MAX_SIDE}]")
        n_frames = max(1, round(seconds * fps))
        frames = self._frames(prompt.strip(), n_frames, width, height, int(seed))
        return [_to_uint8(f, width, height) for f in frames]


def _to_uint8(frame: Any, width: int, height: int) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        # diffusers "np" output is float in [0, 1].
        arr = np.clip(arr.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if arr.shape != (height, width, 3):
        raise GeneratorError(f"generator returned frames of shape {arr.shape}")
    return np.ascontiguousarray(arr)


@contextmanager
def _torch_threads(n: int) -> Any:
    # torch's thread count is process-wide: set it for this call only.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DiffusersTextToVideo(TextToVideo):
    """Any diffusers text-to-video pipeline whose call takes ``num_frames`` and ``output_type='np'``."""

    def __init__(self, pipe: Any, info: GeneratorInfo, steps: int, threads: int = 1) -> None:
        self.pipe = pipe
        self.info = info
        self.steps = steps
        self.threads = threads
        self.size_multiple = int(getattr(pipe, "vae_scale_factor", 8) or 8)
        # A diffusers pipeline holds a scheduler with per-call state: one call at a time.
        self._lock = threading.Lock()
        pipe.set_progress_bar_config(disable=True)

    def _frames(
        self, prompt: str, n_frames: int, width: int, height: int, seed: int
    ) -> list[np.ndarray]:
        import torch

        with self._lock, _torch_threads(self.threads), torch.inference_mode():
            generator = torch.Generator().manual_seed(seed)
            out = self.pipe(
                prompt,
                num_frames=n_frames,
                height=height,
                width=width,
                num_inference_steps=self.steps,
                generator=generator,
                output_type="np",
            )
        frames = out.frames
        # (batch, frames, H, W, 3) array, or a list per batch item.
        video = frames[0]
        return [np.asarray(f) for f in video]


def _tiny_tokenizer(max_length: int) -> Any:
    """A byte-level CLIP tokenizer with no merges: every byte is a token. Built in memory, no files."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    for ch in alphabet:
        vocab[ch] = len(vocab)
    for ch in alphabet:
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def build_tiny_random_t2v(seed: int = 0, threads: int = 1, steps: int = 4) -> DiffusersTextToVideo:
    """A RANDOM-WEIGHT TextToVideoSDPipeline from tiny configs (about 0.2 M parameters).

    Its output is noise-like and meaningless; it exists so the generate flow
    (watermark, signing, fingerprinting, publishing) runs offline end to end.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        TextToVideoSDPipeline,
        UNet3DConditionModel,
    )
    from diffusers.utils import logging as diffusers_logging
    from transformers import CLIPTextConfig, CLIPTextModel

    diffusers_logging.set_verbosity_error()  # the class's deprecation notice is not news
    max_length = 64
    tokenizer = _tiny_tokenizer(max_length)
    vocab = tokenizer.get_vocab()
    with _torch_threads(threads):
        torch.manual_seed(seed)
        unet = UNet3DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
            up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
            cross_attention_dim=16,
            attention_head_dim=4,
            norm_num_groups=4,
        )
        # Four blocks: the usual 8x latent downsampling, so latents stay small.
        vae = AutoencoderKL(
            block_out_channels=(8, 8, 8, 8),
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4,
            latent_channels=4,
            sample_size=256,
            norm_num_groups=4,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(vocab),
                hidden_size=16,
                intermediate_size=32,
                num_attention_heads=2,
                num_hidden_layers=2,
                max_position_embeddings=max_length,
                projection_dim=16,
                bos_token_id=vocab["<|startoftext|>"],
                eos_token_id=vocab["<|endoftext|>"],
                pad_token_id=vocab["<|endoftext|>"],
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    pipe = TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    )
    modules: tuple[Any, ...] = (unet, vae, text_encoder)
    params = int(sum(p.numel() for m in modules for p in m.parameters()))
    info = GeneratorInfo(
        model_id=TINY_MODEL_ID,
        licence="n/a (random weights built from a config; diffusers/transformers Apache-2.0)",
        input_size=None,
        notes=(
            f"RANDOM-WEIGHT tiny TextToVideoSDPipeline ({params} parameters, seed {seed}): "
            "no pretrained text-to-video weights are available offline; output is noise-like "
            "and exists only to exercise the generate/sign/publish path"
        ),
        random_weights=True,
    )
    return DiffusersTextToVideo(pipe, info, steps=steps, threads=threads)


def find_pipeline_folders(models_dir: Path | None) -> list[Path]:
    """Diffusers pipeline folders under ``<models_dir>/diffusers/`` (those with a model_index.json)."""
    if models_dir is None:
        return []
    root = Path(models_dir) / "diffusers"
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("*/model_index.json"))


def load_diffusers_t2v(folder: Path, threads: int = 1, steps: int = 25) -> DiffusersTextToVideo:
    """A real diffusers text-to-video pipeline from a local folder (no hub access)."""
    from diffusers import DiffusionPipeline

    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise GeneratorError(f"{folder} is not a diffusers pipeline folder (no model_index.json)")
    try:
        with _torch_threads(threads):
            pipe = DiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise GeneratorError(
            f"cannot load the diffusers pipeline in {folder.name}: {exc}"
        ) from None
    if "num_frames" not in _call_parameters(pipe):
        raise GeneratorError(
            f"{folder.name} holds a {type(pipe).__name__}, not a text-to-video pipeline"
        )
    info = GeneratorInfo(
        model_id=f"diffusers/{folder.name}",
        licence=_licence_of(folder),
        notes=f"{type(pipe).__name__} loaded from {folder}",
    )
    return DiffusersTextToVideo(pipe, info, steps=steps, threads=threads)


def _call_parameters(pipe: Any) -> set[str]:
    import inspect

    return set(inspect.signature(pipe.__call__).parameters)


def _licence_of(folder: Path) -> str:
    # Model cards state the licence in their YAML header; say "see model card" when it does not.
    readme = folder / "README.md"
    try:
        for line in readme.read_text(encoding="utf-8").splitlines()[:40]:
            if line.lower().startswith("license:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown (see the model card in the pipeline folder)"


def build_text_to_video(
    models_dir: Path | None, name: str = "auto", threads: int = 1, seed: int = 0
) -> TextToVideo:
    """The configured generator: a diffusers folder when present, else the random-weight tiny model.

    ``name``: ``"auto"`` (the first folder under ``<models_dir>/diffusers/``,
    else tiny), ``"tiny-random"``, or a folder name under ``<models_dir>/diffusers/``.
    """
    if name == "tiny-random":
        return build_tiny_random_t2v(seed=seed, threads=threads)
    folders = find_pipeline_folders(models_dir)
    if name == "auto":
        if folders:
            return load_diffusers_t2v(folders[0], threads=threads)
        return build_tiny_random_t2v(seed=seed, threads=threads)
    for folder in folders:
        if folder.name == name:
            return load_diffusers_t2v(folder, threads=threads)
    raise GeneratorError(
        f"no diffusers pipeline named {name!r} under {models_dir}/diffusers "
        "(use 'auto' or 'tiny-random')"
    )


def describe_text_to_video(models_dir: Path | None, name: str = "auto") -> str:
    """The model id :func:`build_text_to_video` would load, without loading anything."""
    folders = find_pipeline_folders(models_dir)
    if name == "tiny-random" or (name == "auto" and not folders):
        return TINY_MODEL_ID
    if name == "auto":
        return f"diffusers/{folders[0].name}"
    return f"diffusers/{name}"
