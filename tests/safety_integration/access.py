"""Access rows for hash banks (staff) and teen settings (guardians, teens, admins).

Ownership (a guardian's own teens, a teen's own settings) is checked in the
handlers; these rows pin the role rule only.
"""

from tests.foundation.access_rows import ANY, STAFF

ACCESS = {
    ("GET", "/banks"): STAFF,
    ("POST", "/banks"): STAFF,
    ("POST", "/banks/{name}/entries"): STAFF,
    ("POST", "/banks/lookup"): STAFF,
    ("GET", "/banks/{name}/export"): STAFF,
    ("POST", "/banks/{name}/import"): STAFF,
    ("GET", "/teens"): {"guardian", "admin"},
    ("GET", "/teens/{handle}/settings"): {"guardian", "adult", "teen", "admin"},
    ("PUT", "/teens/{handle}/settings"): {"guardian", "admin"},
    ("GET", "/me/settings"): ANY,
    ("PUT", "/me/settings"): ANY,
}
