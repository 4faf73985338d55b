"""Access rows for sign-out, suspension, birth dates and guardian links (issue 11).

Ownership (a guardian's own links, a teen's own guardians) is checked in the
handlers; these rows pin the role rule only.
"""

from tests.foundation.access_rows import ANY, PUBLIC, STAFF, USERS

ACCESS = {
    ("POST", "/auth/logout"): ANY,
    ("POST", "/users/{handle}/suspend"): {"admin"},
    ("POST", "/users/{handle}/unsuspend"): {"admin"},
    ("PUT", "/users/{handle}/birth-date"): {"admin"},
    ("DELETE", "/guardians/{teen_handle}"): {"guardian", "admin"},
    ("GET", "/me/guardians"): USERS,
    ("POST", "/me/guardians/{guardian_handle}/confirm"): USERS,
    ("DELETE", "/me/guardians/{guardian_handle}"): USERS,
    # Invite-only sign-up and the invite tree (issue 13).
    ("POST", "/auth/signup"): PUBLIC,
    ("GET", "/me/invites"): ANY,
    ("POST", "/me/invites"): ANY,
    ("DELETE", "/me/invites/{invite_id}"): ANY,
    ("GET", "/users/{handle}/invites"): STAFF,
    ("GET", "/users/{handle}/invite-tree"): STAFF,
    ("POST", "/users/{handle}/invites/stop"): STAFF,
    ("POST", "/users/{handle}/invites/resume"): STAFF,
    # Account standing: strikes and account actions (issue 13).
    ("GET", "/me/standing"): ANY,
    ("GET", "/me/preferences"): ANY,
    ("PUT", "/me/preferences"): ANY,
    ("GET", "/users/{handle}/standing"): STAFF,
    ("POST", "/account-actions/{action_id}/lift"): STAFF,
}

# Calling these uses up the caller's token: the access table gives each call a throwaway one.
SPENDS_TOKEN = {("POST", "/auth/logout")}
