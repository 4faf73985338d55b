"""Character checks from several threads at once: the same matches as one at a time.

The service checks keyframes outside its lock (pipeline/characters.py), so two
scans' character checks run together; a registration made meanwhile must not
change what the others find for the characters already there.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from greenroom.settings import Settings
from greenroom.wiring import build_services
from pipeline.characters import RefUpload
from pipeline.media import Frame, load_image
from store.db import Store


def _refs(folder: Path) -> list[RefUpload]:
    return [RefUpload(p.read_bytes(), p.name) for p in sorted(folder.glob("*.png"))]


def _found(matches: list[Any]) -> list[tuple[str, str, float]]:
    return sorted((m.character_id, m.backend, round(m.score, 4)) for m in matches)


def test_concurrent_checks_find_what_serial_ones_do(settings: Settings, fixtures_dir: Path) -> None:
    chars = fixtures_dir / "characters"
    with Store(settings.data_dir) as store:
        svc = build_services(store, settings)
        with store.transaction() as tx:
            owner = svc.users.create(tx, "studio", "rights_holder")
        characters = svc.pipeline.characters
        tux = characters.register(None, owner, name="Tux", refs=_refs(chars / "tux"))
        # Keyframes: Tux's own art inside a bigger frame, and frames with nothing in them.
        rng = np.random.default_rng(5)
        frames = []
        for i, path in enumerate(sorted((chars / "tux").glob("*.png"))):
            art = load_image(path)
            canvas = np.full((art.shape[0] + 80, art.shape[1] + 120, 3), 40, np.uint8)
            canvas[40 : 40 + art.shape[0], 60 : 60 + art.shape[1]] = art
            frames.append(Frame(t=float(i), rgb=canvas))
        frames += [
            Frame(t=10.0 + i, rgb=rng.integers(0, 255, (360, 640, 3), dtype=np.uint8))
            for i in range(3)
        ]
        serial = _found(characters.check(None, frames))
        assert any(cid == tux.id for cid, _, _ in serial), "the art is found: not vacuous"

        def check(_: int) -> list[tuple[str, str, float]]:
            return _found(characters.check(None, frames))

        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(check, i) for i in range(8)]
            # A registration while the checks run: it is seen whole or not at all.
            gopher = characters.register(
                None, owner, name="Gopher", refs=_refs(chars / "go_gopher")
            )
            results = [p.result() for p in pending]
        for result in results:
            assert [r for r in result if r[0] != gopher.id] == serial
        # After it, a check finds Tux as before.
        after = _found(characters.check(None, frames))
        assert [r for r in after if r[0] != gopher.id] == serial
