"""Policy versions in the store: save, activate, roll back, shadow, and backtest against past scans.

A version's id is the policy set's content hash, so saving the same rules twice
yields the same version and any change makes a new one. ``policy_state`` holds
the ``active`` and ``shadow`` pointers; with an empty table the shipped default
is saved as version 1 and activated on first use. Invalid policy text never
touches the store: the active version keeps deciding. The rows and their audit
events live in :mod:`store.policies`; this module compiles, caches and backtests.

Policy authors are admins for now (the server's routes say so).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from pipeline.judge import replay
from policies.engine import PolicySet
from policies.errors import PolicyError, PolicyIssue
from policies.shadow import Record, backtest
from store import policies as policy_rows
from store.db import Store, Tx
from store.jsondoc import loads
from store.policies import ACTIVE, SHADOW, PolicyVersions

DEFAULT_BACKTEST_SCANS = 500
MAX_BACKTEST_SCANS = 100_000
_MAX_MESSAGE = 500


class PolicyRejected(ValueError):
    """A policy set that does not validate; ``issues`` name file, rule and field."""

    def __init__(self, issues: list[dict[str, str]], message: str) -> None:
        super().__init__(message)
        self.issues = issues


def _issues(exc: PolicyError) -> list[dict[str, str]]:
    return [issue.to_dict() for issue in exc.issues]


class PolicyService:
    """Versions, activation, shadow and backtests over the ``policy_versions`` table."""

    def __init__(self, store: Store, max_file_bytes: int) -> None:
        self.store = store
        self._rows = PolicyVersions(store)
        self.max_file_bytes = max_file_bytes
        self._compiled: dict[str, PolicySet] = {}
        self._lock = threading.Lock()
        self._seeded = False
        # The active and shadow pointers as last read, and a count of pointer changes: every
        # change goes through this service (the server is the store's one writer), so the
        # decision path reads them from memory instead of querying twice per decision.
        self._pointers: dict[str, str | None] | None = None
        self._changes = 0

    # -- compiling ---------------------------------------------------------------

    def compile(self, source: PolicySet | Mapping[str, Any]) -> PolicySet:
        """A PolicySet from a bundle (``format``/``files``) or a ``{file name: YAML}`` map.

        Raises :class:`PolicyRejected` with every issue found.
        """
        if isinstance(source, PolicySet):
            return source
        if not isinstance(source, Mapping):
            raise PolicyRejected(
                [{"file": "", "rule": "", "field": "", "message": "expected policy files"}],
                "a policy must be a bundle or a map of file names to YAML text",
            )
        try:
            if "format" in source:
                return PolicySet.from_bundle(source, max_file_bytes=self.max_file_bytes)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in source.items()):
                raise PolicyError(
                    [PolicyIssue("", "", "files", "files must map file names to YAML text")]
                )
            return PolicySet.from_texts(source, max_file_bytes=self.max_file_bytes)
        except PolicyError as exc:
            raise PolicyRejected(_issues(exc), str(exc)) from None

    def validate(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """``{"ok", "errors": [{file, rule, field, message}], "version", "rules"}``; stores nothing."""
        try:
            policy = self.compile(source)
        except PolicyRejected as exc:
            return {"ok": False, "errors": exc.issues, "version": None, "rules": 0}
        return {"ok": True, "errors": [], "version": policy.version, "rules": len(policy.rules)}

    def _load(self, version_id: str) -> PolicySet:
        with self._lock:
            cached = self._compiled.get(version_id)
        if cached is not None:
            return cached
        bundle = self._rows.bundle(version_id)
        policy = PolicySet.from_bundle(bundle, max_file_bytes=self.max_file_bytes)
        with self._lock:
            self._compiled[version_id] = policy
        return policy

    # -- first use -------------------------------------------------------------------

    def ensure_default(self) -> None:
        """Save and activate the shipped default when the store has no policy yet."""
        if self._seeded:
            return
        if not self._rows.has_active():
            default = PolicySet.default()
            with self.store.transaction() as tx:
                if policy_rows.pointer(tx, ACTIVE) is None:
                    if policy_rows.seq_of(tx, default.version) is None:
                        self._insert(tx, default, None, "shipped default policy")
                    policy_rows.set_pointer(tx, ACTIVE, default.version, None)
            self._pointers_changed()
        self._seeded = True

    def _pointers_changed(self) -> None:
        """Forget the pointers (after the change committed); a read begun before it keeps none."""
        with self._lock:
            self._changes += 1
            self._pointers = None

    # -- reading -------------------------------------------------------------------------

    def state(self) -> dict[str, str | None]:
        self.ensure_default()
        with self._lock:
            cached, seen = self._pointers, self._changes
        if cached is not None:
            return dict(cached)
        pointers = self._rows.pointers()
        with self._lock:
            # Kept only when no change landed while reading: a stale read is never cached.
            if self._changes == seen:
                self._pointers = dict(pointers)
        return pointers

    def active(self) -> PolicySet:
        """The compiled active policy set (cached by version id)."""
        version = self.state()[ACTIVE]
        assert version is not None  # ensure_default guarantees one
        return self._load(version)

    def shadow(self) -> PolicySet | None:
        version = self.state()[SHADOW]
        return self._load(version) if version else None

    def versions(self) -> list[dict[str, Any]]:
        state = self.state()
        rows = self._rows.listing()
        for row in rows:
            row["active"] = row["id"] == state[ACTIVE]
            row["shadow"] = row["id"] == state[SHADOW]
        return rows

    def resolve(self, ref: str) -> str:
        """A version id from an id, a unique id prefix (4+ characters) or a sequence number."""
        self.ensure_default()
        return self._rows.resolve(ref)

    def get(self, ref: str) -> dict[str, Any]:
        version_id = self.resolve(ref)
        row = self._rows.get(version_id)
        state = self.state()
        row["active"] = version_id == state[ACTIVE]
        row["shadow"] = version_id == state[SHADOW]
        policy = self._load(version_id)
        row["rules"] = [
            {
                "id": r.spec.id,
                "file": r.file,
                "outcome": r.spec.outcome,
                "status": r.spec.status,
                "reason": r.spec.reason,
                "queue": r.spec.queue,
                "priority": r.spec.priority,
                "condition": r.spec.condition,
            }
            for r in policy.rules
        ]
        return row

    # -- changing ---------------------------------------------------------------------------

    def _insert(self, tx: Tx, policy: PolicySet, author_id: str | None, message: str) -> int:
        seq = policy_rows.insert_version(
            tx,
            policy.version,
            policy.to_bundle(),
            author_id=author_id,
            message=message,
            rules=len(policy.rules),
        )
        with self._lock:
            self._compiled[policy.version] = policy
        return seq

    def save(
        self,
        source: PolicySet | Mapping[str, Any],
        author_id: str | None,
        message: str,
        *,
        activate: bool = False,
    ) -> dict[str, Any]:
        """Validate and store a new version (idempotent by content); optionally activate it.

        Returns ``{"id", "seq", "created", "active"}``; :class:`PolicyRejected` when invalid.
        """
        message = (message or "").strip()
        if not message:
            raise ValueError("a policy version needs a message saying what changed")
        if len(message) > _MAX_MESSAGE:
            raise ValueError(f"the message is longer than {_MAX_MESSAGE} characters")
        policy = self.compile(source)
        self.ensure_default()
        with self.store.transaction() as tx:
            stored = policy_rows.seq_of(tx, policy.version)
            created = stored is None
            seq = self._insert(tx, policy, author_id, message) if stored is None else stored
            if activate:
                policy_rows.set_pointer(tx, ACTIVE, policy.version, author_id)
        if activate:
            self._pointers_changed()
        return {
            "id": policy.version,
            "seq": seq,
            "created": created,
            "active": self.state()[ACTIVE] == policy.version,
            "rules": len(policy.rules),
        }

    def activate(self, ref: str, actor_id: str | None) -> dict[str, Any]:
        """Make a version active (rollback is activating an older one)."""
        version_id = self.resolve(ref)
        self._load(version_id)  # a stored version that no longer compiles is refused here
        previous = self.state()[ACTIVE]
        with self.store.transaction() as tx:
            policy_rows.set_pointer(tx, ACTIVE, version_id, actor_id)
        self._pointers_changed()
        return {"active": version_id, "previous": previous}

    def set_shadow(self, ref: str | None, actor_id: str | None) -> dict[str, Any]:
        """Run a version beside the active one (recorded, never enforced); None turns it off."""
        version_id = self.resolve(ref) if ref else None
        if version_id is not None:
            self._load(version_id)
        previous = self.state()[SHADOW]
        with self.store.transaction() as tx:
            policy_rows.set_pointer(tx, SHADOW, version_id, actor_id)
        self._pointers_changed()
        return {"shadow": version_id, "previous": previous}

    # -- backtests -------------------------------------------------------------------------

    def stored_records(self, last_n: int = DEFAULT_BACKTEST_SCANS) -> list[Record]:
        """The inputs and engine decisions of the last N scans, rebuilt from the store."""
        if not 1 <= int(last_n) <= MAX_BACKTEST_SCANS:
            raise ValueError(f"last must be between 1 and {MAX_BACKTEST_SCANS}")
        rows = self.store.query(
            "SELECT s.id, s.clip_id, s.view, d.outcome, d.rules, s.context FROM scans s "
            "JOIN decisions d ON d.scan_id = s.id AND d.decided_by IS NULL "
            "WHERE s.view IS NOT NULL ORDER BY s.created_at DESC, s.id LIMIT ?",
            [int(last_n)],
        )
        records = []
        for scan_id, clip_id, view, outcome, rules, scan_context in rows:
            data = loads(view) or {}
            errors = (loads(scan_context) or {}).get("source_errors") or []
            context = data.get("context") or {}
            signals = {k: v for k, v in data.items() if k != "context"}
            records.append(
                Record(
                    clip_id or scan_id,
                    signals,
                    context,
                    {"outcome": outcome, "rules": loads(rules) or []},
                    tuple(e for e in errors if isinstance(e, dict)),
                )
            )
        return records

    def backtest(
        self,
        candidate: PolicySet | Mapping[str, Any] | str,
        last_n: int = DEFAULT_BACKTEST_SCANS,
        *,
        baseline: str | None = None,
    ) -> dict[str, Any]:
        """What would change over the last N scans if ``candidate`` decided; writes nothing.

        ``candidate`` is a policy set, a bundle / file map, or a stored version
        ref. The baseline is each scan's recorded decision, or a stored version
        re-evaluated on the same inputs when ``baseline`` names one.
        """
        policy = self._load(self.resolve(candidate)) if isinstance(candidate, str) else None
        policy = policy or self.compile(candidate)  # type: ignore[arg-type]
        base = self._load(self.resolve(baseline)) if baseline else None
        records = self.stored_records(last_n)
        # The same judgement the decision path makes (a failed source forces review).
        tally = backtest(policy, records, base, judge=replay)
        report = tally.to_dict()
        report["scans"] = len(records)
        report["active_version"] = self.state()[ACTIVE]
        return report
