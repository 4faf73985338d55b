"""Demo content for likeness: a protected likeness, and alice's cameo from a real recording.

Both come from the in-repo demo pack, so a fresh clone seeds them. The
protected likeness is a frame of Sintel, the animated heroine of the Blender
open movie (CC-BY-3.0), standing in for a public figure. alice's cameo is
enrolled through the real live check from the pack's one recording of a real
person: Intel IoT DevKit's head-pose sample (CC-BY-4.0; see the pack's
README), in which a woman turns her head to her right and back to the front
and a little to her left, so the challenge is the movements that clip really
shows. With the shared fixtures a public figure's photo is protected too.
Whatever is skipped is said in the result. The cameo costs a few CPU seconds
(a 1.9 s recording at 10 samples/s).
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
# In the pack: alice's verification recording, and the head movements it really shows
# (the person's own directions; the live check sees right 0.0-0.6 s, left 0.9-1.4 s).
RECORDING = "likeness/intel_head_pose_female_480x540.mp4"
CHALLENGE = ["right", "left"]
# An extra from the shared fixtures only (not redistributable, so not in the pack).
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
    recording = media(settings, RECORDING)
    if recording is None or "alice" not in users:
        why = f"{RECORDING} not in the demo pack" if recording is None else "no user alice"
        out["notes"].append(f"cameo skipped: {why}")
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
