"""Hash banks in the product: the in-memory matcher over the store's banks, banking clips, bank files.

:class:`BankService` keeps every bank entry of the
data directory in memory: sha256 in a dict, PDQ in ``detectors.hashing``'s
multi-index index with the brute-force reference beside it (``brute_force=True``
answers from the reference; tests compare the two). Before each match a cheap
stamp query (entry count, latest ``added_at``) tells whether entries were added
since the last load (by this process or an import); only the new rows are
loaded, so a banked clip is matched on the next upload without a restart, and
entries of a rolled-back transaction never reach the index.

It is also the gate's ``banks`` :class:`pipeline.sources.SignalSource`:
``hash.match`` signals for the scan's file sha256 and keyframe PDQ hashes, and
the ``hash`` part of the policy view.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detectors.base import Explanation, MediaError, Signal
from detectors.hashing import (
    DEFAULT_BANK_CROPS,
    DEFAULT_MIN_QUALITY,
    DEFAULT_PDQ_THRESHOLD,
    PDQ_MODEL,
    BankEntry,
    BankFormatError,
    BruteForcePdqIndex,
    HashBank,
    MultiIndexPdqIndex,
    PdqHash,
    export_bank,
    hamming,
    import_bank,
    pdq_hash_crops,
)
from pipeline.media import iter_frames, load_image, sniff_kind
from pipeline.sources import KEYFRAME_PDQ, ScanInput, keyframe_pdq
from store.banks import CATEGORIES, Banks, NewEntry
from store.db import NotFound, Tx
from store.users import User

if TYPE_CHECKING:
    from pipeline.media import MediaLimits
    from store.blobs import BlobStore
    from store.db import Store

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Keyframes for banking: the gate's cadence and working size (pipeline.intake),
# so a banked clip and its re-upload are hashed from comparable frames.
BANK_EVERY_S = 0.5
BANK_MAX_SIDE = 1280
BANK_MAX_FRAMES = 240
# Consecutive keyframes of a still shot hash within a few bits of each other;
# banking each would bloat the bank without catching anything more.
NEAR_DUPLICATE_BITS = 8
MAX_SIGNALS = 50


@dataclass(frozen=True)
class BankHit:
    """One bank entry matched by a scan."""

    bank: str
    category: str
    entry_id: str
    kind: str
    hash: str
    label: str
    severity: str
    source_clip_id: str | None
    distance: int
    threshold: int
    t: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "category": self.category,
            "entry_id": self.entry_id,
            # Not "kind": a signal's data is merged into its document next to its own kind.
            "hash_kind": self.kind,
            "hash": self.hash,
            "label": self.label,
            "severity": self.severity,
            "source_clip_id": self.source_clip_id,
            "distance": self.distance,
            "threshold": self.threshold,
            "t": self.t,
        }

    def to_signal(self) -> Signal:
        pdq = self.kind == "pdq"
        model_id = PDQ_MODEL.model_id if pdq else "sha256"
        return Signal(
            kind="hash.match",
            model_id=model_id,
            data=self.to_dict(),
            explanation=Explanation(
                model_id=model_id,
                method="PDQ Hamming distance to a bank entry (multi-index hashing)"
                if pdq
                else "exact sha256 of the file",
                score=float(self.distance),
                threshold=float(self.threshold),
                details={
                    "bank": self.bank,
                    "category": self.category,
                    "entry_id": self.entry_id,
                    "severity": self.severity,
                    "t": self.t,
                },
            ),
        )


def _actor_id(actor: User | str | None) -> str | None:
    if actor is None:
        return None
    return actor.id if isinstance(actor, User) else str(actor)


def media_keyframes(
    path: Path, limits: MediaLimits, every_s: float = BANK_EVERY_S
) -> list[tuple[float, Any]]:
    """(t, RGB) keyframes of a stored image or video, without touching the store."""
    kind = sniff_kind(path)
    if kind == "image":
        from pipeline.intake import _downscale

        return [(0.0, _downscale(load_image(path, limits), BANK_MAX_SIDE))]
    if kind != "video":
        raise MediaError("not a supported image or video format")
    frames = [
        (f.t, f.rgb)
        for f in iter_frames(
            path,
            every_s=every_s,
            max_frames=BANK_MAX_FRAMES,
            limits=limits,
            max_side=BANK_MAX_SIDE,
        )
    ]
    if not frames:
        raise MediaError("video has no decodable frames")
    return frames


class BankService:
    """Banks, bank files and matching for one data directory."""

    name = "banks"
    # Its keyframes' hashes may come from a Ray actor (pipeline.executor).
    needs = (KEYFRAME_PDQ.name,)

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        limits: MediaLimits,
        threshold: int = DEFAULT_PDQ_THRESHOLD,
        min_quality: int = DEFAULT_MIN_QUALITY,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.limits = limits
        self.repo = Banks(store)
        self.threshold = threshold
        self.min_quality = min_quality
        self._lock = threading.RLock()
        self._rows: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._fast = MultiIndexPdqIndex()
        self._brute = BruteForcePdqIndex()
        self._sha: dict[str, list[int]] = {}
        self._stamp: tuple[int, datetime | None] = (0, None)

    # -- the in-memory index -------------------------------------------------------------

    def refresh(self) -> int:
        """Load entries added since the last load; returns how many were new."""
        with self._lock:
            stamp = self.repo.stamp()
            if stamp == self._stamp:
                return 0
            since = self._stamp[1]
            new = 0
            for row in self.repo.all_entries(since=since):
                if row["id"] in self._ids:
                    continue
                i = len(self._rows)
                self._rows.append(row)
                self._ids.add(row["id"])
                if row["kind"] == "sha256":
                    self._sha.setdefault(row["hash"], []).append(i)
                else:
                    self._fast.add(row["hash"], i)
                    self._brute.add(row["hash"], i)
                new += 1
            self._stamp = stamp
            return new

    @property
    def entry_count(self) -> int:
        self.refresh()
        return len(self._rows)

    def _hit(self, i: int, distance: int, threshold: int, t: float | None) -> BankHit:
        row = self._rows[i]
        return BankHit(
            bank=row["bank"],
            category=row["category"] or "",
            entry_id=row["id"],
            kind=row["kind"],
            hash=row["hash"],
            label=row["label"] or "",
            severity=row["severity"] or "high",
            source_clip_id=row["source_clip_id"],
            distance=distance,
            threshold=threshold,
            t=t,
        )

    def match(
        self,
        sha256: str | None,
        keyframes: Sequence[tuple[float | None, PdqHash]],
        *,
        brute_force: bool = False,
    ) -> list[BankHit]:
        """Every bank entry matched by a file hash or keyframe PDQ hash, best hit per entry."""
        self.refresh()
        best: dict[str, BankHit] = {}
        with self._lock:
            found: list[BankHit] = []
            if sha256:
                found += [self._hit(i, 0, 0, None) for i in self._sha.get(sha256, [])]
            index = self._brute if brute_force else self._fast
            for t, h in keyframes:
                if h.quality < self.min_quality:
                    continue  # a flat frame's hash would match every flat frame
                found += [
                    self._hit(i, d, self.threshold, t)
                    for i, d in index.search(h.hex, self.threshold)
                ]
        for hit in found:
            old = best.get(hit.entry_id)
            if old is None or hit.distance < old.distance:
                best[hit.entry_id] = hit
        return sorted(
            best.values(),
            key=lambda h: (-SEVERITY_RANK.get(h.severity, 0), h.distance, h.bank, h.entry_id),
        )

    def lookup(
        self, sha256s: Sequence[str], pdqs: Sequence[str], *, brute_force: bool = False
    ) -> list[dict[str, Any]]:
        """Each given hash with the bank entries it matches, best first (a partner's lookup).

        The hashes were computed elsewhere, so no quality floor applies: a caller
        sending a flat frame's PDQ hash gets what it matches.
        """
        self.refresh()
        out: list[dict[str, Any]] = []
        with self._lock:
            for h in sha256s:
                hits = [self._hit(i, 0, 0, None) for i in self._sha.get(h.lower(), [])]
                out.append({"kind": "sha256", "hash": h.lower(), "matches": hits})
            index = self._brute if brute_force else self._fast
            for h in pdqs:
                found = index.search(h.lower(), self.threshold)
                hits = [self._hit(i, d, self.threshold, None) for i, d in found]
                out.append({"kind": "pdq", "hash": h.lower(), "matches": hits})
        for item in out:
            item["matches"] = [
                hit.to_dict()
                for hit in sorted(
                    item["matches"],
                    key=lambda h: (-SEVERITY_RANK.get(h.severity, 0), h.distance, h.entry_id),
                )
            ]
        return out

    # -- the gate's source -------------------------------------------------------------------

    def signals(self, scan: ScanInput) -> list[Signal]:
        if scan.media_path is None and not scan.frames:
            return []  # the prompt stage: nothing to hash
        # Shared with the provenance source's own-output lookup: each frame hashed once a
        # scan, here or on a Ray actor.
        keyframes = keyframe_pdq(scan)
        hits = self.match(scan.media_sha256, keyframes)
        return [h.to_signal() for h in hits[:MAX_SIGNALS]]

    def view(self, scan: ScanInput, signals: list[Signal]) -> dict[str, Any]:
        """``{"hash": [...]}``: the worst hit per bank (severity, then distance)."""
        per_bank: dict[str, dict[str, Any]] = {}
        for s in signals:
            if s.kind != "hash.match":
                continue
            d = s.data
            item = {
                "bank": d["bank"],
                "distance": float(d["distance"]),
                "severity": d["severity"],
                "category": d["category"],
                "hash_kind": d["hash_kind"],
                "entry_id": d["entry_id"],
                "t": d["t"],
            }
            old = per_bank.get(d["bank"])
            if old is None or (SEVERITY_RANK[item["severity"]], -item["distance"]) > (
                SEVERITY_RANK[old["severity"]],
                -old["distance"],
            ):
                per_bank[d["bank"]] = item
        return {"hash": list(per_bank.values())}

    # -- banks ---------------------------------------------------------------------------------

    def list_banks(self) -> list[dict[str, Any]]:
        return self.repo.list_all()

    def create_bank(
        self, name: str, description: str = "", category: str = "", actor: User | str | None = None
    ) -> dict[str, Any]:
        with self.store.transaction() as tx:
            return self.repo.create(
                tx, name, description=description, category=category, actor_id=_actor_id(actor)
            )

    def add_entries(
        self, bank: str, entries: Sequence[Mapping[str, Any]], actor: User | str | None = None
    ) -> dict[str, Any]:
        """Add hashes given as ``{"hash", "kind", "label", "severity", "source_clip_id"?}``."""
        if not entries:
            raise ValueError("no entries given")
        who = _actor_id(actor)
        new = []
        for n, e in enumerate(entries, 1):
            try:
                # The detectors' entry check is the file format's: one rule for both paths.
                entry = BankEntry(
                    hash=str(e.get("hash", "")),
                    kind=str(e.get("kind", "")),
                    label=str(e.get("label", "")),
                    severity=str(e.get("severity", "high")),
                    source_clip_id=e.get("source_clip_id"),
                    added_by=who or "",
                )
            except BankFormatError as exc:
                raise ValueError(f"entry {n}: {exc}") from None
            new.append(
                NewEntry(
                    entry.kind,
                    entry.hash,
                    entry.label,
                    entry.severity,
                    entry.source_clip_id,
                    who,
                    e.get("quality") if entry.kind == "pdq" else None,
                )
            )
        with self.store.transaction() as tx:
            result = self.repo.add_entries(tx, bank, new, source="manual", actor_id=who)
        self.refresh()
        return result

    def hash_media(self, path: Path, crops: Sequence[float] = DEFAULT_BANK_CROPS) -> dict[str, Any]:
        """sha256 and the distinct PDQ hashes (with centre crops) worth banking for a file."""
        from detectors.hashing import sha256_file

        pdq: list[tuple[float, PdqHash]] = []
        low_quality = 0
        for t, rgb in media_keyframes(path, self.limits):
            for _, h in pdq_hash_crops(rgb, crops):
                if h.quality < self.min_quality:
                    low_quality += 1
                    continue
                if any(hamming(h.hex, o.hex) <= NEAR_DUPLICATE_BITS for _, o in pdq):
                    continue
                pdq.append((t, h))
        return {"sha256": sha256_file(path), "pdq": pdq, "low_quality": low_quality}

    def _media_entries(
        self,
        hashes: Mapping[str, Any],
        label: str,
        severity: str,
        clip_id: str | None,
        who: str | None,
    ) -> list[NewEntry]:
        out = [NewEntry("sha256", hashes["sha256"], label, severity, clip_id, who)]
        out += [
            NewEntry("pdq", h.hex, label, severity, clip_id, who, h.quality, t)
            for t, h in hashes["pdq"]
        ]
        return out

    def add_clip(
        self,
        tx: Tx,
        clip_id: str,
        bank: str,
        reason: str,
        actor: User | str | None,
        severity: str = "high",
    ) -> dict[str, Any]:
        """Bank a stored clip's file sha256 and keyframe PDQ hashes, in the caller's transaction.

        Called by ``ReviewService.decide(..., add_to_bank=NAME)`` when a
        moderator blocks or takes down a clip: if the decision rolls back, so
        do the entries (the in-memory index only loads committed rows).
        """
        row = tx.execute("SELECT media_sha256 FROM clips WHERE id = ?", [clip_id]).fetchone()
        if row is None:
            raise NotFound(f"no clip {clip_id}")
        if not row[0]:
            raise ValueError("this clip has no stored media to hash")
        self.repo.get(bank, tx)  # a missing bank fails before any decoding
        path = self.blobs.path(str(row[0]))
        if not path.is_file():
            raise MediaError(f"the clip's media {str(row[0])[:12]}... is missing from the store")
        hashes = self.hash_media(path)
        label = (reason or "").strip()[:500] or "removed by a moderator"
        who = _actor_id(actor)
        result = self.repo.add_entries(
            tx,
            bank,
            self._media_entries(hashes, label, severity, clip_id, who),
            source="clip",
            actor_id=who,
            clip_id=clip_id,
            reason=reason,
        )
        result["low_quality_frames"] = hashes["low_quality"]
        return result

    def add_media(
        self,
        bank: str,
        path: Path,
        label: str,
        severity: str = "high",
        actor: User | str | None = None,
        clip_id: str | None = None,
    ) -> dict[str, Any]:
        """Bank a media file given directly (the CLI's ``banks add-file``)."""
        self.repo.get(bank)
        hashes = self.hash_media(Path(path))
        who = _actor_id(actor)
        with self.store.transaction() as tx:
            result = self.repo.add_entries(
                tx,
                bank,
                self._media_entries(hashes, label, severity, clip_id, who),
                source="manual",
                actor_id=who,
                clip_id=clip_id,
            )
        self.refresh()
        result["low_quality_frames"] = hashes["low_quality"]
        return result

    # -- bank files --------------------------------------------------------------------------------

    def export(self, bank: str) -> str:
        """The bank as a ``greenroom-hashbank`` v1 file (detectors.hashing), plus its category."""
        row = self.repo.get(bank)
        hb = HashBank(name=row["name"], description=row["description"] or "")
        for e in self.repo.entries(bank):
            hb.entries.append(
                BankEntry(
                    hash=e["hash"],
                    kind=e["kind"],
                    label=e["label"] or "banked",
                    severity=e["severity"] or "high",
                    source_clip_id=e["source_clip_id"],
                    added_by=e["added_by"] or "",
                    added_at=e["added_at"].isoformat(timespec="seconds"),
                    quality=e["quality"],
                )
            )
        text = export_bank(hb)
        # An extra header key: readers of version 1 ignore unknown header keys.
        head, _, rest = text.partition("\n")
        header = json.loads(head)
        header["category"] = row["category"]
        return json.dumps(header, ensure_ascii=False) + "\n" + rest

    def import_text(
        self, text: str, bank: str | None = None, actor: User | str | None = None
    ) -> dict[str, Any]:
        """Validate a whole bank file, then add it in ONE transaction (into ``bank`` or its own name).

        A missing bank is created with the file's description and category.
        Any invalid line refuses the whole file; nothing is half-imported.
        """
        try:
            parsed = import_bank(text)
        except BankFormatError as exc:
            raise ValueError(f"invalid bank file: {exc}") from None
        header = json.loads(text.lstrip().partition("\n")[0])
        category = header.get("category", "")
        if category not in CATEGORIES:
            raise ValueError(f"invalid bank file: line 1: unknown category {category!r}")
        target = bank or parsed.name
        who = _actor_id(actor)
        entries = [
            NewEntry(
                e.kind,
                e.hash,
                e.label,
                e.severity,
                e.source_clip_id,
                # The importer is who added them here; a file's own claim is not trusted.
                who or "",
                e.quality if e.kind == "pdq" else None,
            )
            for e in parsed.entries
        ]
        with self.store.transaction() as tx:
            created = False
            try:
                self.repo.get(target, tx)
            except NotFound:
                self.repo.create(
                    tx,
                    target,
                    description=parsed.description,
                    category=category,
                    actor_id=who,
                )
                created = True
            result = self.repo.add_entries(
                tx, target, entries, source="import", actor_id=who, file_bank=parsed.name
            )
        self.refresh()
        result["created"] = created
        result["file_bank"] = parsed.name
        result.pop("ids", None)
        return result
