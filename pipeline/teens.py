"""Safety settings for every account, a floor and guardians for teens, the daily feed limit.

Settings: ``feed_limit_per_day`` (a daily cap on feed items), ``cameo_permission``
(the most anyone may use your cameo) and ``personalized_feed`` (off: the feed
is the people you follow, newest first). Every account reads its settings and
changes its own (``PUT /me/settings``).

Every user has effective settings = defaults overlaid with what they stored.
For teens the defaults are the **floor**: the loosest value a teen account
may have (a 60-item daily feed, cameos for mutuals at most). A teen's
settings have two layers: what a linked guardian or an admin set, and the
teen's own choices; the setting in force is the strictest of the floor and
both layers, so a teen can switch personalisation off (and on again) or
tighten anything, and never loosen what their guardian set. A guardian may
set any value at least as strict as the floor and never beyond it; a stored
value looser than the floor (e.g. written before the floor changed) is
clamped on read.

The feed backend enforces the daily limit with :meth:`TeenService.remaining_today`
and :meth:`TeenService.record_views`; the likeness area can ask
:meth:`TeenService.cameo_use_allowed` whether a requester may use a teen's cameo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from store.db import NotFound, Store
from store.teens import UserSettingsRepo
from store.users import User, Users

# Strictest first: a value's index is its strictness rank (lower = stricter).
CAMEO_LEVELS = ("only_me", "approved", "mutuals", "everyone")
MAX_FEED_LIMIT = 1000
# A teen's own choices live under this key of their settings document, beside
# the values their guardian (or an admin) set.
OWN_KEY = "own"

ADULT_DEFAULTS: dict[str, Any] = {
    "feed_limit_per_day": None,  # no daily limit
    "cameo_permission": "everyone",
    "personalized_feed": True,
}
# The floor for teen accounts (and their defaults).
TEEN_FLOOR: dict[str, Any] = {
    "feed_limit_per_day": 60,
    "cameo_permission": "mutuals",
    "personalized_feed": True,
}
FIELDS = tuple(ADULT_DEFAULTS)
# Settings that were offered once but had nothing behind them: refused with a clear word.
REMOVED = {"dms": "direct messages do not exist in this app, so there is nothing to set"}


def _rank(field: str, value: Any) -> float:
    """Strictness of a value (lower is stricter), comparable within one field."""
    if field == "feed_limit_per_day":
        return float("inf") if value is None else float(value)
    if field == "cameo_permission":
        return float(CAMEO_LEVELS.index(value))
    return 1.0 if value else 0.0  # personalized_feed: off is stricter


def check_value(field: str, value: Any) -> Any:
    """A well-formed value for ``field`` or ValueError (no floor applied here)."""
    if field == "feed_limit_per_day":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("feed_limit_per_day must be a whole number of items (or null)")
        if not 0 <= value <= MAX_FEED_LIMIT:
            raise ValueError(f"feed_limit_per_day must be between 0 and {MAX_FEED_LIMIT}")
        return value
    if field == "cameo_permission":
        if value not in CAMEO_LEVELS:
            raise ValueError(f"cameo_permission must be one of {list(CAMEO_LEVELS)}")
        return value
    if field in REMOVED:
        raise ValueError(f"{field} is not a setting: {REMOVED[field]}")
    if field == "personalized_feed":
        if not isinstance(value, bool):
            raise ValueError("personalized_feed must be true or false")
        return value
    raise ValueError(f"unknown setting {field!r}; settings are {list(FIELDS)}")


def stricter(field: str, a: Any, b: Any) -> Any:
    return a if _rank(field, a) <= _rank(field, b) else b


def _valid(field: str, value: Any, default: Any) -> Any:
    try:
        return check_value(field, value)
    except ValueError:
        return default  # a malformed stored value never loosens anything


def _own(stored: Mapping[str, Any]) -> dict[str, Any]:
    own = stored.get(OWN_KEY)
    return dict(own) if isinstance(own, Mapping) else {}


class TeenService:
    """Settings, guardians and daily feed counts."""

    def __init__(self, store: Store, users: Users) -> None:
        self.store = store
        self.repo = UserSettingsRepo(store)
        self.users = users

    # -- reading ---------------------------------------------------------------------------

    def floor(self, user: User) -> dict[str, Any] | None:
        return dict(TEEN_FLOOR) if user.is_teen else None

    def effective(self, user: User) -> dict[str, Any]:
        """The settings in force: defaults, the stored values, teen values clamped to the floor.

        For a teen, the strictest of the floor, the guardian's layer and the
        teen's own choices.
        """
        stored = self.repo.get(user.id)
        own = _own(stored)
        out: dict[str, Any] = {}
        for field in FIELDS:
            default = TEEN_FLOOR[field] if user.is_teen else ADULT_DEFAULTS[field]
            value = _valid(field, stored.get(field, default), default)
            if user.is_teen:
                value = stricter(field, value, TEEN_FLOOR[field])
                if field in own:
                    value = stricter(field, value, _valid(field, own[field], value))
            out[field] = value
        return out

    def own_choices(self, user: User) -> dict[str, Any]:
        """What a teen chose for themselves (stricter than, or equal to, what is in force)."""
        if not user.is_teen:
            return {}
        own = _own(self.repo.get(user.id))
        return {f: own[f] for f in FIELDS if f in own}

    def describe(self, user: User) -> dict[str, Any]:
        """What GET /me/settings and GET /teens/{handle}/settings return."""
        # Confirmed guardians only: a pending request is not a guardian yet.
        guardians = [
            r[0]
            for r in self.store.query(
                "SELECT u.handle FROM guardianships g JOIN users u ON u.id = g.guardian_id "
                "WHERE g.teen_id = ? AND g.status = 'confirmed' ORDER BY u.handle",
                [user.id],
            )
        ]
        return {
            "handle": user.handle,
            "is_teen": user.is_teen,
            "settings": self.effective(user),
            "own_choices": self.own_choices(user),
            "floor": self.floor(user),
            "guardians": guardians if user.is_teen else [],
            "views_today": self.repo.views_on(user.id),
            "remaining_today": self.remaining_today(user),
        }

    def is_guardian_of(self, guardian: User, teen: User) -> bool:
        """A confirmed link only: a guardian's pending request gives them nothing."""
        rows = self.store.query(
            "SELECT 1 FROM guardianships WHERE guardian_id = ? AND teen_id = ? "
            "AND status = 'confirmed'",
            [guardian.id, teen.id],
        )
        return bool(rows)

    def teens_of(self, guardian: User) -> list[dict[str, Any]]:
        return [self.describe(t) for t in self.users.teens_of(guardian.id)]

    def can_read(self, reader: User, target: User) -> bool:
        return (
            reader.id == target.id
            or reader.role == "admin"
            or (target.is_teen and self.is_guardian_of(reader, target))
        )

    # -- changing --------------------------------------------------------------------------

    def update(self, target: User, changes: Mapping[str, Any], actor: User) -> dict[str, Any]:
        """Apply changes to a user's settings; for a teen every value must respect the floor.

        Who: a linked guardian or an admin for a teen (the guardian's layer);
        the teen themselves for their own choices (:meth:`update_own`); the
        user themselves or an admin for an adult account.
        Raises PermissionError (refused) or ValueError (bad or too loose value).
        """
        if not changes:
            raise ValueError("no settings given")
        if target.is_teen and actor.id == target.id:
            return self.update_own(target, changes)
        if target.is_teen:
            if not (actor.role == "admin" or self.is_guardian_of(actor, target)):
                raise PermissionError(
                    f"only a guardian linked to @{target.handle} or an admin may change these"
                )
        elif actor.id != target.id and actor.role != "admin":
            raise PermissionError("you may only change your own settings")
        clean = {field: check_value(field, value) for field, value in changes.items()}
        if target.is_teen:
            for field, value in clean.items():
                if _rank(field, value) > _rank(field, TEEN_FLOOR[field]):
                    raise ValueError(
                        f"{field}={value!r} is looser than the teen floor "
                        f"({TEEN_FLOOR[field]!r}); a guardian can only tighten it"
                    )
        by = (
            "self" if actor.id == target.id else "guardian" if actor.role == "guardian" else "admin"
        )
        with self.store.transaction() as tx:
            stored = self.repo.get(target.id, tx)
            diff = {
                f: [stored.get(f), v] for f, v in clean.items() if f not in stored or stored[f] != v
            }
            if diff:
                self.repo.put(
                    tx, target.id, {**stored, **clean}, changes=diff, by=by, actor_id=actor.id
                )
        return self.describe(target)

    def update_own(self, user: User, changes: Mapping[str, Any]) -> dict[str, Any]:
        """A person changes their own settings (``PUT /me/settings``).

        An adult's values replace what was stored. A teen's go into their own
        layer: within the floor, and never loosening what a guardian set (the
        stricter value stays in force; ``settings`` in the answer shows it).
        """
        if not changes:
            raise ValueError("no settings given")
        if not user.is_teen:
            return self.update(user, changes, user)
        clean = {field: check_value(field, value) for field, value in changes.items()}
        for field, value in clean.items():
            if _rank(field, value) > _rank(field, TEEN_FLOOR[field]):
                raise ValueError(
                    f"{field}={value!r} is looser than teen accounts allow ({TEEN_FLOOR[field]!r})"
                )
        with self.store.transaction() as tx:
            stored = self.repo.get(user.id, tx)
            own = _own(stored)
            diff = {f: [own.get(f), v] for f, v in clean.items() if f not in own or own[f] != v}
            if diff:
                self.repo.put(
                    tx,
                    user.id,
                    {**stored, OWN_KEY: {**own, **clean}},
                    changes=diff,
                    by="self",
                    actor_id=user.id,
                )
        return self.describe(user)

    # -- daily feed limit ----------------------------------------------------------------------

    def remaining_today(self, user: User) -> int | None:
        """Feed items the user may still see today (None: no daily limit)."""
        limit = self.effective(user)["feed_limit_per_day"]
        if limit is None:
            return None
        return max(0, int(limit) - self.repo.views_on(user.id))

    def record_views(self, user: User, clip_ids: Iterable[str]) -> dict[str, Any]:
        """Count feed items as seen today (each clip once a day); returns the new remaining."""
        with self.store.transaction() as tx:
            added = self.repo.record_views(tx, user.id, clip_ids)
        return {"recorded": added, "remaining_today": self.remaining_today(user)}

    # -- cameo rule for teens ----------------------------------------------------------------------

    def cameo_use_allowed(self, owner: User, requester: User) -> tuple[bool, str]:
        """Whether ``requester`` may use ``owner``'s cameo as far as teen rules go.

        Only the teen cap is decided here (the likeness area owns grants and
        the owner's own choice): a teen's cameo is never usable by an adult
        who is not a mutual, and the guardian's cap (only_me / approved /
        mutuals) narrows it further.
        """
        if owner.id == requester.id:
            return True, "own cameo"
        # The reasons reach the requester: they never say that the owner is a teen.
        if not owner.is_teen:
            return True, "allowed by the owner's settings"
        cap = self.effective(owner)["cameo_permission"]
        if cap == "only_me":
            return False, "this person's cameo is limited to themselves"
        mutual = self.users.are_mutuals(owner.id, requester.id)
        if not requester.is_teen and not mutual:
            return False, "this person's cameo is limited to mutuals"
        if cap == "mutuals" and not mutual:
            return False, "this person's cameo is limited to mutuals"
        if cap == "approved":
            return True, "allowed if the owner approved this person (checked by the cameo grants)"
        return True, "mutuals"

    def user(self, handle: str) -> User:
        try:
            return self.users.by_handle(handle)
        except NotFound:
            raise NotFound(f"no user @{str(handle)[:32]}") from None
