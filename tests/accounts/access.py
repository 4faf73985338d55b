"""Access rows for sign-out, suspension, birth dates and guardian links (issue 11).

Ownership (a guardian's own links, a teen's own guardians) is checked in the
handlers; these rows pin the role rule only.
"""

from tests.foundation.access_rows import ANY, USERS

ACCESS = {
    ("POST", "/auth/logout"): ANY,
    ("POST", "/users/{handle}/suspend"): {"admin"},
    ("POST", "/users/{handle}/unsuspend"): {"admin"},
    ("PUT", "/users/{handle}/birth-date"): {"admin"},
    ("DELETE", "/guardians/{teen_handle}"): {"guardian", "admin"},
    ("GET", "/me/guardians"): USERS,
    ("POST", "/me/guardians/{guardian_handle}/confirm"): USERS,
    ("DELETE", "/me/guardians/{guardian_handle}"): USERS,
}

# Calling these uses up the caller's token: the access table gives each call a throwaway one.
SPENDS_TOKEN = {("POST", "/auth/logout")}
