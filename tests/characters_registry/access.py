"""Access rows for the characters registry: rights holders manage their own, staff read all, anyone checks.

Ownership (a rights holder and someone else's character → 404) is checked in
the handlers and pinned by tests/characters_registry/test_registry_api.py.
"""

from tests.foundation.access_rows import ANY, STAFF

MANAGERS = {"rights_holder", "admin"}
READERS = {"rights_holder"} | STAFF

ACCESS = {
    ("POST", "/characters"): MANAGERS,
    ("GET", "/characters"): READERS,
    ("GET", "/characters/matches"): READERS,
    ("POST", "/characters/check"): ANY,
    ("GET", "/characters/{character_id}"): READERS,
    ("PATCH", "/characters/{character_id}"): MANAGERS,
    ("DELETE", "/characters/{character_id}"): MANAGERS,
    ("POST", "/characters/{character_id}/refs"): MANAGERS,
    ("GET", "/characters/{character_id}/matches"): READERS,
    ("POST", "/disputes"): MANAGERS,
    ("GET", "/disputes"): READERS,
}
