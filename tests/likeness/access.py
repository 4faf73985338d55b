"""Access rows for the cameo and likeness routes.

Every signed-in account manages its own cameo (the "/me" routes act on the
caller only) and may ask whether it may use someone's cameo; registering a
protected likeness is an admin's act; listing them and matching media is staff work.
"""

from tests.foundation.access_rows import ANY, STAFF

ACCESS = {
    ("POST", "/cameos/challenge"): ANY,
    ("POST", "/cameos"): ANY,
    ("GET", "/cameos/me"): ANY,
    ("PUT", "/cameos/me/permission"): ANY,
    ("POST", "/cameos/me/grants/{handle}"): ANY,
    ("DELETE", "/cameos/me/grants/{handle}"): ANY,
    ("POST", "/cameos/me/revoke"): ANY,
    ("DELETE", "/cameos/me/likeness-data"): ANY,
    ("GET", "/cameos/me/clips"): ANY,
    ("GET", "/cameos/{handle}/consent"): ANY,
    ("POST", "/likeness/protected"): {"admin"},
    ("GET", "/likeness/protected"): STAFF,
    ("POST", "/likeness/match"): STAFF,
}
