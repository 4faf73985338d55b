"""The characters registry's rows: characters, their reference images, and rights holders' disputes.

A character belongs to one rights holder (``owner_id``). Its policy is one of
:data:`POLICIES` and starts as ``block``: registration is opt-in to *use*, not
opt-out. Deletion is soft (``deleted_at``): a removed character no longer
matches, but decisions that cited it keep their evidence. Every change here is
written with its typed audit event in the caller's transaction.

A character allowed with attribution carries an attribution text (plain
text, at most :data:`MAX_ATTRIBUTION_CHARS`); without one, :func:`default_attribution`
builds it from the character's name and its rights holder's display name (or
handle). :meth:`Characters.attributions` reads, for feed items and the clip
view, which characters a clip's latest decision attributed and their text.

Duplicate names are compared by :func:`name_key` (Unicode NFKC, accents off,
case folded, everything but letters and digits dropped, so "Pepper & Carrot",
"pepper&carrot" and "PepperCarrot" are one name):

- the same owner registering a name that is already one of their characters'
  names or aliases → :class:`Conflict` naming their existing character;
- a name or alias equal to *another* rights holder's character name, or a name
  equal to another's alias → :class:`Conflict` that does not say who holds it
  (the other holder's catalogue is not ours to show); the way forward is a
  dispute with trust & safety. Aliases may overlap between holders (generic
  nicknames are common).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.blobs import BlobRef
from store.db import Conflict, NotFound, Store, Tx, new_id, now
from store.events import (
    CharacterRefAdded,
    CharacterRegistered,
    CharacterRemoved,
    CharacterUpdated,
)
from store.jsondoc import loads

POLICIES: tuple[str, ...] = ("block", "allow", "allow_with_attribution", "review")
DEFAULT_POLICY = "block"
MAX_NAME_CHARS = 120
MAX_ALIASES = 32
MAX_DESCRIPTION_CHARS = 2000
MAX_REFS = 32
MAX_ATTRIBUTION_CHARS = 200
# What the shipped policy names the rule and the signal an attribution comes from.
ATTRIBUTION_POLICY = "allow_with_attribution"
ATTRIBUTION_RULE = "character_attribution"
CHARACTER_SIGNAL = "character.match"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NOT_ALNUM = re.compile(r"[\W_]+")


class CharacterInputError(ValueError):
    """A field of a character is not acceptable; the message says which and why."""


def name_key(text: str) -> str:
    """The form two names are compared in: NFKC, no accents, case folded, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _NOT_ALNUM.sub("", text)


def clean_text(value: object, what: str, max_chars: int, *, required: bool) -> str:
    """Trimmed text without control characters, or a :class:`CharacterInputError`."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CharacterInputError(f"{what} must be text")
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", value)).strip()
    if _CONTROL.search(text):
        raise CharacterInputError(f"{what} contains control characters")
    if len(text) > max_chars:
        raise CharacterInputError(f"{what} is {len(text)} characters; the limit is {max_chars}")
    if required and not text:
        raise CharacterInputError(f"{what} is empty")
    if text and not name_key(text) and max_chars <= MAX_NAME_CHARS:
        raise CharacterInputError(f"{what} {text!r:.60} has no letters or digits")
    return text


def clean_aliases(values: Iterable[object], name: str) -> tuple[str, ...]:
    """Distinct, valid aliases in the order given; the canonical name itself is dropped."""
    out: list[str] = []
    seen = {name_key(name)}
    for i, value in enumerate(values):
        alias = clean_text(value, f"alias {i + 1}", MAX_NAME_CHARS, required=True)
        key = name_key(alias)
        if key not in seen:
            seen.add(key)
            out.append(alias)
    if len(out) > MAX_ALIASES:
        raise CharacterInputError(f"{len(out)} aliases; the limit is {MAX_ALIASES}")
    return tuple(out)


def clean_attribution(value: object) -> str | None:
    """Plain attribution text, or None (empty: use the default sentence)."""
    text = clean_text(value, "attribution", MAX_ATTRIBUTION_CHARS, required=False)
    return text or None


def default_attribution(name: str, holder: str) -> str:
    """The attribution shown when the rights holder wrote none."""
    return f"{name} © {holder}, used with permission."


def check_policy(policy: object) -> str:
    if policy not in POLICIES:
        raise CharacterInputError(
            f"policy must be one of {', '.join(POLICIES)}; got {policy!r:.40}"
        )
    return str(policy)


@dataclass(frozen=True)
class RefRecord:
    id: str
    sha256: str
    media_type: str | None
    width: int | None
    height: int | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class CharacterRecord:
    id: str
    owner_id: str
    name: str
    aliases: tuple[str, ...]
    description: str
    policy: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    refs: tuple[RefRecord, ...] = ()
    # The rights holder's own attribution text (None: the default sentence) and
    # how the default names them (display name, else @handle).
    attribution: str | None = None
    holder: str = ""

    @property
    def attribution_text(self) -> str:
        return self.attribution or default_attribution(self.name, self.holder)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "name": self.name,
            "aliases": list(self.aliases),
            "description": self.description,
            "policy": self.policy,
            "attribution": self.attribution_text,
            "attribution_is_default": self.attribution is None,
            "refs": [r.to_dict() for r in self.refs],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "deleted": self.deleted_at is not None,
        }


_COLS = "id, owner_id, name, aliases, description, policy, created_at, updated_at, deleted_at"
# How the default attribution names the rights holder.
_HOLDER = (
    "(SELECT coalesce(nullif(trim(u.display_name), ''), '@' || u.handle) FROM users u "
    "WHERE u.id = characters.owner_id)"
)
_SELECT = f"{_COLS}, attribution, {_HOLDER} AS holder"


def _record(row: tuple[Any, ...], refs: tuple[RefRecord, ...] = ()) -> CharacterRecord:
    aliases = json.loads(row[3]) if isinstance(row[3], str) else (row[3] or [])
    return CharacterRecord(
        row[0],
        row[1],
        row[2],
        tuple(aliases),
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        refs,
        attribution=row[9],
        holder=str(row[10] or ""),
    )


class Characters:
    """Repository over ``characters``, ``character_refs`` and ``character_disputes``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -------------------------------------------------------------------

    def _refs(self, ids: list[str]) -> dict[str, tuple[RefRecord, ...]]:
        if not ids:
            return {}
        rows = self.store.query(
            "SELECT character_id, id, blob_sha256, media_type, width, height, created_at "
            "FROM character_refs WHERE list_contains(?, character_id) ORDER BY created_at, id",
            [ids],
        )
        out: dict[str, list[RefRecord]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(RefRecord(*r[1:]))
        return {k: tuple(v) for k, v in out.items()}

    def get(self, character_id: str, *, include_deleted: bool = False) -> CharacterRecord:
        rows = self.store.query(
            f"SELECT {_SELECT} FROM characters WHERE id = ?", [str(character_id)[:64]]
        )
        if not rows or (rows[0][8] is not None and not include_deleted):
            raise NotFound(f"no character {str(character_id)[:64]}")
        return _record(rows[0], self._refs([rows[0][0]]).get(rows[0][0], ()))

    def records(
        self,
        owner_id: str | None = None,
        *,
        include_deleted: bool = False,
        limit: int = 10_000,
        offset: int = 0,
    ) -> list[CharacterRecord]:
        where, params = [], []
        if owner_id is not None:
            where.append("owner_id = ?")
            params.append(owner_id)
        if not include_deleted:
            where.append("deleted_at IS NULL")
        sql = f"SELECT {_SELECT} FROM characters"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.store.query(
            sql + " ORDER BY created_at, id LIMIT ? OFFSET ?", [*params, int(limit), int(offset)]
        )
        refs = self._refs([r[0] for r in rows])
        return [_record(r, refs.get(r[0], ())) for r in rows]

    def ids_of(self, owner_id: str, *, include_deleted: bool = True) -> list[str]:
        sql = "SELECT id FROM characters WHERE owner_id = ?"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        return [r[0] for r in self.store.query(sql, [owner_id])]

    # -- names ---------------------------------------------------------------------------

    def check_names(
        self,
        tx: Tx,
        owner_id: str,
        name: str,
        aliases: tuple[str, ...],
        *,
        exclude_id: str | None = None,
    ) -> None:
        """Raise :class:`Conflict` for a duplicate registration (see the module docstring)."""
        rows = tx.execute(
            "SELECT id, owner_id, name, aliases FROM characters WHERE deleted_at IS NULL AND id <> ?",
            [exclude_id or ""],
        ).fetchall()
        new_name = name_key(name)
        new_aliases = {name_key(a) for a in aliases}
        for cid, owner, other_name, other_aliases_raw in rows:
            other_aliases = json.loads(other_aliases_raw) if other_aliases_raw else []
            other_keys = {name_key(a) for a in other_aliases}
            other_name_key = name_key(other_name)
            if owner == owner_id:
                if new_name == other_name_key or new_name in other_keys:
                    raise Conflict(
                        f"you already registered {other_name!r} (character {cid}); "
                        "edit it instead of registering it again"
                    )
                continue
            if new_name == other_name_key or new_name in other_keys:
                raise Conflict(
                    f"a character named {name!r} is already registered by another rights holder; "
                    "if you hold the rights, open a dispute with trust & safety"
                )
            if other_name_key in new_aliases:
                raise Conflict(
                    f"the alias {other_name!r} is another rights holder's registered character "
                    "name; remove it or open a dispute with trust & safety"
                )

    # -- writing ---------------------------------------------------------------------------

    def create(
        self,
        tx: Tx,
        *,
        owner_id: str,
        name: str,
        aliases: tuple[str, ...],
        description: str,
        policy: str,
        actor_id: str | None,
        refs: int = 0,
        attribution: str | None = None,
    ) -> str:
        """Insert a character (fields already cleaned) after the duplicate check; returns its id."""
        self.check_names(tx, owner_id, name, aliases)
        cid = new_id("chr")
        at = now()
        tx.execute(
            f"INSERT INTO characters ({_COLS}, attribution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            [
                cid,
                owner_id,
                name,
                json.dumps(list(aliases)),
                description,
                policy,
                at,
                at,
                attribution,
            ],
        )
        tx.audit(
            CharacterRegistered(
                actor_id,
                character_id=cid,
                owner_id=owner_id,
                character_name=name,
                policy=policy,
                aliases=len(aliases),
                refs=refs,
            )
        )
        return cid

    def add_ref(
        self,
        tx: Tx,
        character_id: str,
        blob: BlobRef,
        *,
        width: int,
        height: int,
        actor_id: str | None,
    ) -> str | None:
        """Attach a stored blob; None when this character already has that exact image."""
        count, dup = tx.execute(
            "SELECT count(*), count(*) FILTER (WHERE blob_sha256 = ?) FROM character_refs "
            "WHERE character_id = ?",
            [blob.sha256, character_id],
        ).fetchone()
        if dup:
            return None
        if count >= MAX_REFS:
            raise CharacterInputError(f"a character has at most {MAX_REFS} reference images")
        rid = new_id("cref")
        tx.execute(
            "INSERT INTO character_refs (id, character_id, blob_sha256, created_at, media_type, "
            "width, height) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [rid, character_id, blob.sha256, now(), blob.media_type, width, height],
        )
        tx.audit(
            CharacterRefAdded(actor_id, character_id=character_id, ref_id=rid, sha256=blob.sha256)
        )
        return rid

    def update(
        self, tx: Tx, current: CharacterRecord, changes: dict[str, Any], actor_id: str | None
    ) -> dict[str, Any]:
        """Apply cleaned ``changes`` (name, aliases, description, policy, attribution).

        Returns field -> [old, new]; ``attribution`` None goes back to the default sentence.
        """
        new = {
            "name": changes.get("name", current.name),
            "aliases": tuple(changes.get("aliases", current.aliases)),
            "description": changes.get("description", current.description),
            "policy": changes.get("policy", current.policy),
            "attribution": changes.get("attribution", current.attribution),
        }
        old = {
            "name": current.name,
            "aliases": current.aliases,
            "description": current.description,
            "policy": current.policy,
            "attribution": current.attribution,
        }
        diff = {k: [_jsonable(old[k]), _jsonable(new[k])] for k in new if new[k] != old[k]}
        if not diff:
            return {}
        if "name" in diff or "aliases" in diff:
            self.check_names(
                tx, current.owner_id, new["name"], new["aliases"], exclude_id=current.id
            )
        tx.execute(
            "UPDATE characters SET name = ?, aliases = ?, description = ?, policy = ?, "
            "attribution = ?, updated_at = ? WHERE id = ?",
            [
                new["name"],
                json.dumps(list(new["aliases"])),
                new["description"],
                new["policy"],
                new["attribution"],
                now(),
                current.id,
            ],
        )
        tx.audit(CharacterUpdated(actor_id, character_id=current.id, changes=diff))
        return diff

    def remove(self, tx: Tx, character_id: str, actor_id: str | None) -> None:
        tx.execute(
            "UPDATE characters SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            [now(), now(), character_id],
        )
        tx.audit(CharacterRemoved(actor_id, character_id=character_id))

    # -- attribution on clips --------------------------------------------------------------

    def attributions(self, clip_ids: Sequence[str]) -> dict[str, list[dict[str, str]]]:
        """Per clip, the characters its latest decision attributes: ``[{character_id, name, text}]``.

        A clip is attributed when its latest decision fired the
        ``character_attribution`` rule; the characters are that decision's
        scan's ``character.match`` signals recorded with policy
        ``allow_with_attribution`` at or above their threshold. Name and text
        are read now, so an edited attribution shows at once (a removed
        character keeps its credit: the decision that labelled the clip
        stands). Clips without an attribution are left out.
        """
        ids = list(dict.fromkeys(str(c)[:64] for c in clip_ids))
        if not ids:
            return {}
        latest = self.store.query(
            "SELECT clip_id, scan_id, rules FROM (SELECT clip_id, scan_id, rules, row_number() "
            "OVER (PARTITION BY clip_id ORDER BY created_at DESC, id DESC) AS n FROM decisions "
            "WHERE list_contains(?, clip_id)) WHERE n = 1",
            [ids],
        )
        scans: dict[str, str] = {}
        for clip_id, scan_id, rules in latest:
            fired = loads(rules) or []
            if scan_id and any(
                isinstance(r, dict) and r.get("id") == ATTRIBUTION_RULE for r in fired
            ):
                scans[str(scan_id)] = str(clip_id)
        if not scans:
            return {}
        wanted: dict[str, list[str]] = {}
        for scan_id, data in self.store.query(
            "SELECT scan_id, data FROM signals WHERE kind = ? AND list_contains(?, scan_id)",
            [CHARACTER_SIGNAL, list(scans)],
        ):
            doc = loads(data) or {}
            score, threshold, cid = doc.get("score"), doc.get("threshold"), doc.get("character_id")
            if (
                doc.get("policy") != ATTRIBUTION_POLICY
                or not isinstance(cid, str)
                or not isinstance(score, int | float)
                or not isinstance(threshold, int | float)
                or score < threshold
            ):
                continue
            found = wanted.setdefault(scans[str(scan_id)], [])
            if cid not in found:
                found.append(cid)
        if not wanted:
            return {}
        records = {
            row[0]: _record(row)
            for row in self.store.query(
                f"SELECT {_SELECT} FROM characters WHERE list_contains(?, id)",
                [sorted({c for cids in wanted.values() for c in cids})],
            )
        }
        out: dict[str, list[dict[str, str]]] = {}
        for clip_id, cids in wanted.items():
            shown = sorted((records[c] for c in cids if c in records), key=lambda r: (r.name, r.id))
            if shown:
                out[clip_id] = [
                    {"character_id": r.id, "name": r.name, "text": r.attribution_text}
                    for r in shown
                ]
        return out

    # -- disputes ----------------------------------------------------------------------

    def insert_dispute(
        self,
        tx: Tx,
        *,
        character_id: str,
        owner_id: str,
        decision_id: str | None,
        clip_id: str | None,
        message: str,
        queue_item_id: str,
    ) -> str:
        did = new_id("dsp")
        tx.execute(
            "INSERT INTO character_disputes (id, character_id, owner_id, decision_id, clip_id, "
            "message, status, queue_item_id, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            [did, character_id, owner_id, decision_id, clip_id, message, queue_item_id, now()],
        )
        return did

    def disputes(
        self, owner_id: str | None = None, *, limit: int = 10_000, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Disputes, newest first (one owner's when given)."""
        sql = (
            "SELECT d.id, d.character_id, d.decision_id, d.clip_id, d.message, d.status, "
            "d.queue_item_id, d.created_at, q.due_at, q.status AS queue_status "
            "FROM character_disputes d LEFT JOIN queue_items q ON q.id = d.queue_item_id"
        )
        params: list[Any] = []
        if owner_id is not None:
            sql += " WHERE d.owner_id = ?"
            params.append(owner_id)
        return self.store.query_dicts(
            sql + " ORDER BY d.created_at DESC, d.id LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
