"""A remix is judged against today's consents for every cameo its parent showed.

A real cameo (enrolled from the liveness fixture), a parent clip showing it,
then the owner narrows who may use it or revokes it: a remix of the parent
made afterwards is not published, and the staff record says the cameo came
through the parent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feed.services import Services
from greenroom.settings import Settings
from greenroom.wiring import build_services
from store.db import Conflict, NotFound, Store
from tests.conftest import TEST_MODELS
from tests.likeness.conftest import D3_CHALLENGE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[Services]:
    data = tmp_path_factory.mktemp("remix-consent") / "data"
    settings = Settings(data_dir=data, models_dir=TEST_MODELS, fixtures_dir=fixtures_dir, threads=1)
    store = Store(data)
    services = build_services(store, settings)
    with store.transaction() as tx:
        for handle in ("alice", "bob", "carol"):
            services.users.create(tx, handle, "user", birth_year=1990)
    yield services
    store.close()


@pytest.fixture(scope="module")
def parent(svc: Services, clips: dict[str, Path]) -> dict[str, Any]:
    """alice's cameo, usable by everyone; bob's published clip that shows her."""
    likeness = svc.pipeline.likeness
    alice, bob = svc.users.by_handle("alice"), svc.users.by_handle("bob")
    enrolled = likeness.enroll(alice, clips["recording"], D3_CHALLENGE)
    assert enrolled.status == "active", enrolled.reason
    likeness.set_permission(alice, "everyone")
    posted = svc.pipeline.posting.upload(bob, clips["rest_a"], "alice says hi")
    assert posted["status"] == "published", posted
    return {"clip_id": posted["clip_id"], "cameo_id": enrolled.id}


def _remix(svc: Services, parent_id: str, media: Path) -> dict[str, Any]:
    carol = svc.users.by_handle("carol")
    return svc.pipeline.posting.remix(carol, parent_id, media, "a remix with a new soundtrack")


def test_remix_rechecks_the_parents_cameo_consent(
    svc: Services, parent: dict[str, Any], clips: dict[str, Path]
) -> None:
    # The remix media itself shows nobody (a landscape): only the lineage can find alice.
    allowed = _remix(svc, parent["clip_id"], clips["scenery"])
    assert allowed["status"] == "published", allowed
    alice = svc.users.by_handle("alice")
    svc.pipeline.likeness.set_permission(alice, "only_me")
    refused = _remix(svc, parent["clip_id"], clips["scenery"])
    assert refused["status"] != "published", refused
    assert "cameo_no_consent" in refused["decision"]["reason_codes"]
    # carol is told why, not whose likeness it is.
    assert parent["cameo_id"] not in str(refused) and "alice" not in str(refused)
    staff = svc.pipeline.gate.decisions(refused["clip_id"], full=True)[0]
    via = [s for s in staff["signals"] if s["kind"] == "likeness.match" and s.get("via_parent")]
    assert via and via[0]["cameo_id"] == parent["cameo_id"]
    assert via[0]["via_parent"] == parent["clip_id"] and via[0]["consent"] == "denied"


def test_after_revocation_the_parent_cannot_be_remixed(
    svc: Services, parent: dict[str, Any], clips: dict[str, Path]
) -> None:
    alice = svc.users.by_handle("alice")
    svc.pipeline.likeness.set_permission(alice, "everyone")
    revoked = svc.pipeline.likeness.revoke(alice)
    assert parent["clip_id"] in revoked["live_clips"]
    # Out of every feed in the revoking transaction, before the takedown job runs.
    assert svc.pipeline.gate.clip(parent["clip_id"])["status"] == "queued"
    with pytest.raises((Conflict, NotFound)):
        _remix(svc, parent["clip_id"], clips["bunny"])
    worker = svc.pipeline.worker()
    while worker.run_once():
        pass
    assert svc.pipeline.gate.clip(parent["clip_id"])["status"] == "taken_down"
    with pytest.raises(NotFound):
        _remix(svc, parent["clip_id"], clips["bunny"])
