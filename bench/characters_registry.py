"""Benchmark of the characters registry in the product: register→visible latency and the shared prompt encode.

Registers the fixture characters (bench/data/characters.yaml) through
``CharacterService`` in a temporary data directory, then over the prompts of
bench/data/character_prompts.yaml measures: the character check, the
prompt-safety check, and both in sequence (the prompt gate), with the number
of MiniLM encodes the shared embedder actually ran versus what two separate
models would have run. Prints the figures and writes
``bench/results/characters_registry.json``. Run:
``.venv/bin/python -m bench.characters_registry``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import yaml

import detectors  # noqa: F401  (import hook first)
from detectors.text_embedding import shared_sentence_embedder
from greenroom.settings import Settings
from greenroom.wiring import build_services
from pipeline.characters import RefUpload
from store.db import Store

HERE = Path(__file__).resolve().parent
FIXTURES = Path(os.environ.get("GREENROOM_FIXTURES", HERE.parent.parent / "shared" / "fixtures"))


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "p50": round(statistics.median(xs) * 1000, 2),
        "p95": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 2),
    }


def main() -> dict[str, object]:
    chars = yaml.safe_load((HERE / "data" / "characters.yaml").read_text())["characters"]
    prompts = [
        p["text"]
        for p in yaml.safe_load((HERE / "data" / "character_prompts.yaml").read_text())["prompts"]
    ]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "d", fixtures_dir=FIXTURES, threads=1)
        store = Store(settings.data_dir)
        svc = build_services(store, settings)
        with store.transaction() as tx:
            owner = svc.users.create(tx, "studio", "rights_holder")
        service = svc.pipeline.characters
        t = time.perf_counter()
        safety = svc.pipeline.models.prompt_safety
        _ = service.detectors
        load_s = time.perf_counter() - t
        register_s = []
        for c in chars:
            refs = [RefUpload((FIXTURES / "characters" / p).read_bytes(), p) for p in c["images"]]
            t = time.perf_counter()
            service.register(
                None,
                owner,
                name=c["name"],
                aliases=c["aliases"],
                description=c["description"],
                refs=refs,
            )
            register_s.append(time.perf_counter() - t)
        shared = shared_sentence_embedder()
        char_s, safety_s, gate_s, encoded, separate = [], [], [], 0, 0
        for p in prompts:
            # Each prompt is new text, so only the two detectors share encodes here.
            e0 = shared.encoded
            t = time.perf_counter()
            service.check(p)
            safety.check(p)
            t2 = time.perf_counter()
            gate_s.append(t2 - t)
            encoded += shared.encoded - e0
        # Again, each detector alone on a cleared cache: what two models would encode.
        for p in prompts:
            shared._cache.clear()
            e0 = shared.encoded
            t = time.perf_counter()
            service.check(p)
            char_s.append(time.perf_counter() - t)
            shared._cache.clear()
            t = time.perf_counter()
            safety.check(p)
            safety_s.append(time.perf_counter() - t)
            separate += shared.encoded - e0
        store.close()
    result: dict[str, object] = {
        "threads": 1,
        "characters_registered": len(chars),
        "prompts": len(prompts),
        "models_load_s": round(load_s, 2),
        "register_with_refs_ms": _ms(register_s),
        "character_check_ms": _ms(char_s),
        "prompt_safety_check_ms": _ms(safety_s),
        "prompt_gate_both_shared_ms": _ms(gate_s),
        "minilm_encodes_shared": encoded,
        "minilm_encodes_separate": separate,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    out = HERE / "results" / "characters_registry.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
