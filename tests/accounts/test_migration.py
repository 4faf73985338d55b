"""The accounts migration: an older directory moves forward; self-made guardian links go back to pending."""

from __future__ import annotations

from pathlib import Path

from store.db import Store, load_migrations, now
from store.events import GuardianLinked, UserCreated
from store.users import Users


def _version_before_accounts() -> int:
    return next(m.version for m in load_migrations() if m.name.startswith("accounts_")) - 1


def test_old_guardian_links_migrate_forward(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    older = [m for m in load_migrations() if m.version <= _version_before_accounts()]
    with Store(data_dir, migrations=older) as old, old.transaction() as tx:
        for uid, handle, role, year in (
            ("usr_g1", "self-linked", "guardian", 1970),
            ("usr_g2", "admin-linked", "guardian", 1971),
            ("usr_t", "kid", "user", now().year - 15),
            ("usr_a", "boss", "admin", 1980),
        ):
            tx.execute(
                "INSERT INTO users (id, handle, role, birth_year, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [uid, handle, role, year, now()],
            )
            tx.audit(UserCreated(None, user_id=uid, handle=handle, role=role))
        for guardian, actor in (("usr_g1", "usr_g1"), ("usr_g2", "usr_a")):
            tx.execute("INSERT INTO guardianships VALUES (?, ?, ?)", [guardian, "usr_t", now()])
            tx.audit(GuardianLinked(actor, guardian_id=guardian, teen_id="usr_t"))

    with Store(data_dir) as new:
        assert new.schema_version() == load_migrations()[-1].version
        links = dict(
            new.query("SELECT guardian_id, status FROM guardianships WHERE teen_id = 'usr_t'")
        )
        assert links == {"usr_g1": "pending", "usr_g2": "confirmed"}
        users = Users(new, pepper="p")
        kid = users.get("usr_t")
        assert kid.is_teen and kid.birth_date is None and not kid.disabled
        assert [t.handle for t in users.teens_of("usr_g2")] == ["kid"]
        assert users.teens_of("usr_g1") == []
        assert new.verify_audit().ok
