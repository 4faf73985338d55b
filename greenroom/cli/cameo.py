"""``greenroom cameo``: enrol, grant, revoke and list cameos in a data directory (direct mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenroom.cli.common import DATA_DIR_OPTION, JSON_OPTION, open_services
from greenroom.cli.likeness import need_files, run
from greenroom.cli.output import BadInput

app = typer.Typer(help="Cameos: enrol, grant, revoke, list.", no_args_is_help=True)

USER_OPTION = typer.Option(..., "--user", help="the cameo owner's handle")


def _user(svc: Any, handle: str) -> Any:
    return svc.users.by_handle(handle.strip().lstrip("@").lower())


@app.command("enroll")
def enroll(
    recording: Path = typer.Argument(..., help="the verification recording (video)"),
    user: str = USER_OPTION,
    challenge: str | None = typer.Option(
        None,
        "--challenge",
        help="head movements the recording performs, e.g. left,right,up "
        "(default: the user's pending server-issued challenge)",
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Enrol USER's cameo from RECORDING: one person, the challenge in order, one identity."""

    def body() -> dict[str, Any]:
        need_files([recording])
        steps = [s for s in challenge.split(",") if s.strip()] if challenge else None
        with open_services(data_dir) as svc:
            result = svc.pipeline.likeness.enroll(_user(svc, user), recording, steps)
        return result.to_dict()

    run(
        as_json,
        body,
        lambda d: f"cameo {d['id']}: {d['status']}" + (f" ({d['reason']})" if d["reason"] else ""),
    )


@app.command("challenge")
def challenge_cmd(
    user: str = USER_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Issue a random head-movement challenge for USER's next recording."""

    def body() -> dict[str, Any]:
        with open_services(data_dir) as svc:
            return svc.pipeline.likeness.new_challenge(_user(svc, user)).to_dict()

    run(as_json, body)


@app.command("grant")
def grant(
    grantee: str = typer.Argument(..., help="handle of the user to approve"),
    user: str = USER_OPTION,
    remove: bool = typer.Option(False, "--remove", help="take the approval back"),
    permission: str | None = typer.Option(
        None, "--permission", help="also set: only_me | approved | mutuals | everyone"
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve GRANTEE to use USER's cameo (or --remove the approval)."""

    def body() -> dict[str, Any]:
        with open_services(data_dir) as svc:
            owner = _user(svc, user)
            likeness = svc.pipeline.likeness
            if permission is not None:
                likeness.set_permission(owner, permission)
            cameo = (likeness.ungrant if remove else likeness.grant)(owner, grantee)
            doc = cameo.to_dict()
            doc["grants"] = [svc.users.get(g).handle for g in cameo.grants]
        return doc

    run(as_json, body)


@app.command("revoke")
def revoke(
    user: str = USER_OPTION,
    delete_data: bool = typer.Option(
        False, "--delete-data", help="also delete the face vectors and enrolment frames"
    ),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Revoke USER's cameo: new uses blocked now, live clips queued for takedown."""

    def body() -> dict[str, Any]:
        with open_services(data_dir) as svc:
            owner = _user(svc, user)
            likeness = svc.pipeline.likeness
            cameo = likeness.cameo_of(owner)
            doc: dict[str, Any] = {"cameo_id": cameo.id}
            if cameo.status == "active":
                doc.update(likeness.revoke(owner))
            elif not delete_data:
                raise BadInput(f"the cameo is already {cameo.status}")
            if delete_data:
                doc["deleted"] = likeness.delete_likeness_data(owner)
                doc["status"] = "deleted"
        return doc

    run(as_json, body)


@app.command("list")
def list_cmd(
    user: str | None = typer.Option(None, "--user", help="only this owner's cameo and its uses"),
    data_dir: Path | None = DATA_DIR_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List cameos (all, or one owner's with every clip that used it)."""

    def body() -> dict[str, Any]:
        with open_services(data_dir) as svc:
            likeness = svc.pipeline.likeness
            if user is not None:
                owner = _user(svc, user)
                return {
                    "cameos": [c.to_dict() for c in likeness.cameos.history(owner.id)],
                    "clips": likeness.clips_using(owner),
                }
            rows = svc.store.query_dicts(
                "SELECT c.id, u.handle, c.status, c.permission, c.reason, c.created_at "
                "FROM cameos c JOIN users u ON u.id = c.user_id ORDER BY c.created_at"
            )
            for row in rows:
                row["created_at"] = row["created_at"].isoformat()
            return {"cameos": rows}

    run(as_json, body)
