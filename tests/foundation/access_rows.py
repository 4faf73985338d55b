"""Shorthands for the per-area access tables (``tests/<area>/access.py``).

Each area module defines ``ACCESS: dict[tuple[method, path], rule]`` where a
rule is ``PUBLIC``, ``ANY`` (any signed-in account) or a set of the test
accounts in ``tests.conftest.ROLE_ACCOUNTS``: admin, moderator,
rights_holder, adult, teen, guardian, policy_author.
"""

PUBLIC = "public"
ANY = "any"
STAFF = {"admin", "moderator"}
USERS = {"adult", "teen"}
