"""Reads kept until a commit writes their tables (store/read_cache.py), on a real store.

What must hold: a cached read is answered from memory while nothing wrote its
tables; any commit that wrote one of them (exclusive or group-committed) is
seen by the next read after it returns; a commit landing *during* a read never
leaves a stale hit behind; reads inside a write transaction are never cached.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from store.accounts import strike_summary
from store.db import Store, Tx, now
from store.read_cache import CACHED_TABLES, tables_written_by
from store.reports import add_strike
from store.users import AuthError, Users


@pytest.fixture()
def users(store: Store) -> Users:
    return Users(store, pepper="test-pepper")


def _token(store: Store, users: Users, handle: str = "reader") -> tuple[str, str, str]:
    with store.transaction() as tx:
        user = users.create(tx, handle, "user", birth_year=1990)
        token_id, token = users.issue_token(tx, user.id, label="t")
    return user.id, token_id, token


def test_statement_classification() -> None:
    assert tables_written_by("SELECT * FROM users WHERE id = ?") == set()
    assert tables_written_by("  select 1 from api_tokens") == set()
    assert tables_written_by("UPDATE api_tokens SET revoked_at = ? WHERE id = ?") == {"api_tokens"}
    assert tables_written_by("INSERT INTO strikes (id) VALUES (?)") == {"strikes"}
    # A statement that is not a plain SELECT counts for every cached table it names.
    assert tables_written_by(
        "WITH x AS (SELECT id FROM users) DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM x)"
    ) == {"users", "api_tokens"}
    # A word that merely contains a table's name is not that table.
    assert tables_written_by("UPDATE users_extra SET a = 1") == set()
    assert tables_written_by("UPDATE clips SET a = 1") == set()


def test_second_read_is_a_hit_until_a_commit_writes_the_table(store: Store, users: Users) -> None:
    _, _, token = _token(store, users)
    users.authenticate_token(token)
    hits = store.read_cache.hits
    users.authenticate_token(token)
    assert store.read_cache.hits == hits + 1
    # A commit that writes neither table leaves the entry good.
    with store.transaction() as tx:
        tx.execute("CREATE TABLE IF NOT EXISTS scratch_unrelated (a INTEGER)")
        tx.execute("INSERT INTO scratch_unrelated VALUES (1)")
    users.authenticate_token(token)
    assert store.read_cache.hits == hits + 2
    # One that writes users (another account) makes the next read a miss.
    with store.transaction() as tx:
        users.create(tx, "someone", "user", birth_year=1991)
    misses = store.read_cache.misses
    users.authenticate_token(token)
    assert store.read_cache.misses == misses + 1


def test_revocation_is_seen_by_the_next_request(store: Store, users: Users) -> None:
    _, token_id, token = _token(store, users)
    users.authenticate_token(token)
    users.authenticate_token(token)  # cached now
    with store.transaction() as tx:
        users.revoke_token(tx, token_id, None)
    with pytest.raises(AuthError, match="revoked"):
        users.authenticate_token(token)


def test_group_committed_suspension_is_seen_by_the_next_request(store: Store, users: Users) -> None:
    user_id, _, token = _token(store, users)
    users.authenticate_token(token)
    users.authenticate_token(token)
    store.write(lambda tx: users.suspend(tx, user_id, "spam waves", None))
    with pytest.raises(AuthError, match="suspended"):
        users.authenticate_token(token)


def test_a_commit_during_the_read_leaves_no_stale_hit(store: Store, users: Users) -> None:
    """The read takes its stamp first; a revocation committing while it queries wins."""
    _, token_id, token = _token(store, users)
    real_query = store.query
    revoked = threading.Event()

    def query_then_revoke(sql: str, params: Any = None) -> Any:
        rows = real_query(sql, params)  # the old row: not revoked yet
        if "api_tokens t JOIN users" in sql and not revoked.is_set():
            revoked.set()
            worker = threading.Thread(
                target=lambda: store.write(lambda tx: users.revoke_token(tx, token_id, None))
            )
            worker.start()
            worker.join()
        return rows

    store.query = query_then_revoke  # type: ignore[method-assign]
    try:
        users.authenticate_token(token)  # answered from before the revocation: it raced it
    finally:
        store.query = real_query  # type: ignore[method-assign]
    assert revoked.is_set()
    with pytest.raises(AuthError, match="revoked"):
        users.authenticate_token(token)


def test_strikes_are_seen_after_commit_and_recency_follows_the_clock(
    store: Store, users: Users
) -> None:
    with store.transaction() as tx:
        user = users.create(tx, "striker", "user", birth_year=1990)
        mod = users.create(tx, "moddy", "moderator")
    assert strike_summary(store, user.id)["strikes"] == 0
    assert strike_summary(store, user.id)["strikes"] == 0  # cached
    with store.transaction() as tx:
        add_strike(tx, user.id, "dec_1", None, "spam", mod.id, category="spam")
    summary = strike_summary(store, user.id)
    assert summary == {"strikes": 1, "strikes_90d": 1, "strike_categories": {"spam": 1}}
    # The cached rows answer a later clock without a stale recency.
    later = strike_summary(store, user.id, at=now() + timedelta(days=91))
    assert later == {"strikes": 1, "strikes_90d": 0, "strike_categories": {}}


def test_reads_inside_a_write_transaction_are_not_cached(store: Store) -> None:
    calls: list[int] = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    with store.transaction():
        assert store.cached("k", ("users",), load) == 1
        assert store.cached("k", ("users",), load) == 2
    assert store.cached("k", ("users",), load) == 3
    assert store.cached("k", ("users",), load) == 3  # outside: kept


def test_strike_summary_inside_a_transaction_sees_its_own_rows(store: Store, users: Users) -> None:
    with store.transaction() as tx:
        user = users.create(tx, "striker2", "user", birth_year=1990)
        mod = users.create(tx, "moddy2", "moderator")
    assert strike_summary(store, user.id)["strikes"] == 0
    seen: list[int] = []

    def body(tx: Tx) -> None:
        add_strike(tx, user.id, "dec_2", None, "spam", mod.id)
        seen.append(strike_summary(tx, user.id)["strikes"])

    store.write(body)
    assert seen[-1] == 1
    assert strike_summary(store, user.id)["strikes"] == 1


def test_only_watched_tables_may_be_cached(store: Store) -> None:
    assert "clips" not in CACHED_TABLES
    with pytest.raises(ValueError, match="not cacheable"):
        store.cached("k", ("clips",), lambda: 1)


def test_settings_changes_are_seen_by_the_next_read(store: Store, users: Users) -> None:
    from store.teens import UserSettingsRepo

    with store.transaction() as tx:
        user = users.create(tx, "settler", "user", birth_year=1990)
    repo = UserSettingsRepo(store)
    assert repo.get(user.id) == {}
    assert repo.get(user.id) == {}  # cached
    with store.transaction() as tx:
        repo.put(
            tx, user.id, {"dm": "mutuals"}, changes={"dm": "mutuals"}, by="self", actor_id=None
        )
    first = repo.get(user.id)
    assert first == {"dm": "mutuals"}
    first["dm"] = "everyone"  # a caller's copy: the cached answer stays as stored
    assert repo.get(user.id) == {"dm": "mutuals"}
    store.write(
        lambda tx: repo.put(tx, user.id, {"dm": "nobody"}, changes={}, by="self", actor_id=None)
    )
    assert repo.get(user.id) == {"dm": "nobody"}


def test_a_second_store_on_the_same_file_shares_the_cache(store: Store, users: Users) -> None:
    """A write through another ``Store`` of this process on the same file is seen at once."""
    _, token_id, token = _token(store, users, "twice")
    users.authenticate_token(token)  # cached now
    with Store(store.data_dir) as second:
        with second.transaction() as tx:
            tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
        with pytest.raises(AuthError, match="revoked"):
            users.authenticate_token(token)
