"""Demo content for likeness: one protected likeness, and alice's cameo where a recording exists.

The protected likeness comes from the in-repo demo pack: a frame of Sintel,
the animated heroine of the Blender open movie (CC-BY-3.0), standing in for a
public figure. The pack holds no photo or video of a real person (no face
fixture has a licence that allows redistribution), so alice's cameo is
enrolled only when the shared fixtures are there: through the real live check
from the liveportrait_d3 talking-head video with the head movements that video
really shows (the challenge the likeness tests fix). With the fixtures a
public figure's photo is protected too. Whatever is skipped is said in the
result. The cameo costs a few CPU seconds (one 12 s recording at 10 samples/s).
"""

from __future__ import annotations

from typing import Any

from greenroom.settings import Settings
from store.db import Store
from store.users import User

# In the pack: (pack path, name).
PROTECTED = (
    "likeness/sintel_face_14.5s.jpg",
    "Sintel (Blender open-movie character; demo protected likeness)",
)
# Extras from the shared fixtures only (not redistributable, so not in the pack).
RECORDING = "videos/liveportrait_d3_woman_talking.mp4"
# The movements liveportrait_d3 makes (person's own directions), as in tests/likeness.
CHALLENGE = ["right", "left", "right"]
PUBLIC_FIGURE = ("faces/deepface/img5.jpg", "Angelina Jolie (demo protected likeness)")


def seed_likeness(store: Store, settings: Settings, users: dict[str, User]) -> dict[str, Any]:
    import detectors  # noqa: F401  (installs the torch/torchvision import hook first)
    from greenroom.demo_pack import extra, media
    from greenroom.wiring import build_pipeline

    ctx = build_pipeline(store, settings)
    out: dict[str, Any] = {"skipped": False, "cameo": {}, "protected": [], "notes": []}
    admin = users.get("admin")
    for rel, name, where in (
        (*PROTECTED, media(settings, PROTECTED[0])),
        (*PUBLIC_FIGURE, extra(settings, PUBLIC_FIGURE[0])),
    ):
        if where is None:
            out["notes"].append(f"protected likeness {name!r} skipped: {rel} not found")
            continue
        protected = ctx.likeness.protect(admin, name, [where])
        out["protected"].append({"id": protected.id, "name": protected.name})
    recording = extra(settings, RECORDING)
    if recording is None or "alice" not in users:
        why = (
            f"{RECORDING} not in {settings.fixtures_dir}" if recording is None else "no user alice"
        )
        out["notes"].append(
            f"cameo skipped: {why} (the demo pack holds no recording of a real person)"
        )
    else:
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
        out["cameo"]["alice"] = cameo
    out["skipped"] = not out["protected"] and not out["cameo"]
    return {"likeness": out}
