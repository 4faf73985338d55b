"""Demo content for likeness: alice's cameo (mutuals may use it) and one protected public figure.

Both come from the shared fixtures (``settings.fixtures_dir``): alice's cameo
is enrolled through the real live check from the liveportrait_d3 talking-head
video with the head movements that video really shows (the challenge the
likeness tests fix), and the protected likeness from one photo of a public
figure in the face fixtures. Without the fixtures the seeder skips and says so
in its result. Costs a few CPU seconds (one 12 s recording at 10 samples/s).
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

RECORDING = "videos/liveportrait_d3_woman_talking.mp4"
# The movements liveportrait_d3 makes (person's own directions), as in tests/likeness.
CHALLENGE = ["right", "left", "right"]
PUBLIC_FIGURE = ("faces/deepface/img5.jpg", "Angelina Jolie (demo protected likeness)")


def seed_likeness(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.wiring import build_pipeline

    fixtures = settings.fixtures_dir
    recording = fixtures / RECORDING
    photo = fixtures / PUBLIC_FIGURE[0]
    missing = [str(p) for p in (recording, photo) if not p.is_file()]
    if missing or "alice" not in users:
        note = f"fixtures not found: {', '.join(missing)}" if missing else "no user alice"
        return {"likeness": {"skipped": True, "note": note}}
    ctx = build_pipeline(store, settings)
    alice = users["alice"]
    enrolled = ctx.likeness.enroll(alice, recording, CHALLENGE)
    cameo: dict[str, Any] = {
        "id": enrolled.id,
        "status": enrolled.status,
        "reason": enrolled.reason,
        "embeddings": enrolled.embeddings,
    }
    if enrolled.status == "active":
        cameo["permission"] = ctx.likeness.set_permission(alice, "mutuals").permission
    protected = ctx.likeness.protect(users.get("admin"), PUBLIC_FIGURE[1], [photo])
    return {
        "likeness": {
            "skipped": False,
            "cameo": {"alice": cameo},
            "protected": [{"id": protected.id, "name": protected.name}],
        }
    }
