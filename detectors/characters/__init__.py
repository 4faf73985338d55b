"""Copyrighted-character detection: registered names and descriptions in prompts, registered art in images.

Entry point: :func:`build_character_detectors` turns the registry's
:class:`CharacterRef` list into a prompt matcher and the image backends that
are available (the offline copy detector always; open_clip when a model
folder is found under ``<models_dir>/open_clip/``). Importing this package
goes through ``detectors`` first, so the torch import hook is in place.

What each backend can and cannot catch:

- ``prompt.name`` (rules): names/aliases with normalisation, leetspeak, one typo;
  not paraphrases.
- ``prompt.semantic`` (all-MiniLM-L6-v2): prompts that describe the registered
  description; not descriptions unlike it.
- ``image.copy.*`` (pHash/dHash + ORB/RANSAC): copies, frames, crops, resizes,
  re-encodes and overlays of registered reference art; not new drawings.
- ``image.clip.*`` (open_clip): semantic similarity to references and to the
  description, including new drawings, only with real pretrained weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.characters.clip import (
    OpenClipMatcher,
    find_open_clip_models,
    write_random_tiny_model,
)
from detectors.characters.image import CopyDetector, ImageCharacterMatcher
from detectors.characters.names import BruteForceNameMatcher, NameHit, NameIndex
from detectors.characters.prompt import MAX_PROMPT_CHARS, NAME_THRESHOLD, PromptCharacterMatcher
from detectors.characters.semantic import MiniLMTextEmbedder, TextEmbedder
from detectors.characters.types import SIGNAL_KIND, CharacterMatch, CharacterRef

__all__ = [
    "MAX_PROMPT_CHARS",
    "NAME_THRESHOLD",
    "SIGNAL_KIND",
    "BruteForceNameMatcher",
    "CharacterDetectors",
    "CharacterMatch",
    "CharacterRef",
    "CopyDetector",
    "ImageCharacterMatcher",
    "MiniLMTextEmbedder",
    "NameHit",
    "NameIndex",
    "OpenClipMatcher",
    "PromptCharacterMatcher",
    "TextEmbedder",
    "build_character_detectors",
    "find_open_clip_models",
    "write_random_tiny_model",
]


@dataclass
class CharacterDetectors:
    """The prompt matcher and the image backends for one set of registered characters."""

    prompt: PromptCharacterMatcher
    image: list[ImageCharacterMatcher] = field(default_factory=list)

    def add(self, ref: CharacterRef) -> None:
        """Register or replace one character everywhere; the next check sees it."""
        self.prompt.add(ref)
        for backend in self.image:
            backend.add(ref)

    def remove(self, character_id: str) -> None:
        self.prompt.remove(character_id)
        for backend in self.image:
            backend.remove(character_id)

    @property
    def image_signature(self) -> tuple[str, ...]:
        """The image backends' feature signatures, in order: what :meth:`image_features` depends on."""
        return tuple(backend.feature_signature for backend in self.image)

    def image_features(self, rgb: np.ndarray) -> list[Any]:
        """Each image backend's features of one keyframe, in order (store- and registry-free)."""
        return [backend.features(rgb) for backend in self.image]

    def check_image(self, rgb: np.ndarray, t: float | None = None) -> list[CharacterMatch]:
        """Every backend's matches for one keyframe; the best per character first."""
        return self.match_image(self.image_features(rgb), t)

    def match_image(self, features: list[Any], t: float | None = None) -> list[CharacterMatch]:
        """Like :meth:`check_image`, from :meth:`image_features` made here or elsewhere."""
        if len(features) != len(self.image):
            raise ValueError(f"{len(features)} feature sets for {len(self.image)} image backends")
        # Backends run in order (copy detector first): its evidence is the
        # most direct, so it is the one kept when several backends agree.
        found: dict[str, CharacterMatch] = {}
        for backend, feats in zip(self.image, features, strict=True):
            for m in backend.match(feats, t):
                found.setdefault(m.character_id, m)
        return sorted(
            found.values(), key=lambda m: (-m.score / max(m.threshold, 1e-9), m.character_id)
        )


def build_character_detectors(
    refs: Iterable[CharacterRef],
    models_dir: Path | None = None,
    *,
    semantic: bool = True,
    text_model_path: Path | None = None,
    use_clip: bool = True,
    threads: int = 1,
) -> CharacterDetectors:
    """Build the prompt matcher and the available image backends from the registry's characters.

    ``semantic=False`` skips the sentence model (name rules only). The first
    open_clip folder found under ``models_dir`` is used when ``use_clip``.
    """
    refs = list(refs)
    embedder = MiniLMTextEmbedder(text_model_path) if semantic else None
    prompt = PromptCharacterMatcher(refs, embedder=embedder)
    image: list[ImageCharacterMatcher] = [CopyDetector(threads=threads)]
    clip_dirs = find_open_clip_models(models_dir) if use_clip else []
    if clip_dirs:
        image.append(OpenClipMatcher(clip_dirs[0]))
    for backend in image:
        backend.add_many(refs)
    return CharacterDetectors(prompt, image)
