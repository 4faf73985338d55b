"""Access rows for the gate's routes: scans, prompt checks, clips, review queues, policy versions.

Policy authors are admins for now; queues are staff work; any signed-in
account scans its own uploads (ownership of clips is checked in the handlers).
"""

from tests.foundation.access_rows import ANY, STAFF

ADMIN_ONLY = {"admin"}

ACCESS = {
    ("POST", "/scan"): ANY,
    ("POST", "/prompt-check"): ANY,
    ("GET", "/clips/{clip_id}"): ANY,
    ("GET", "/clips/{clip_id}/decisions"): ANY,
    ("GET", "/queues"): STAFF,
    ("GET", "/queues/{queue}"): STAFF,
    ("GET", "/queue-items/{item_id}"): STAFF,
    ("POST", "/queue-items/{item_id}/claim"): STAFF,
    ("POST", "/queue-items/{item_id}/release"): STAFF,
    ("POST", "/queue-items/{item_id}/decide"): STAFF,
    ("GET", "/policies"): ADMIN_ONLY,
    ("GET", "/policies/active"): ADMIN_ONLY,
    ("GET", "/policies/{version_id}"): ADMIN_ONLY,
    ("POST", "/policies/validate"): ADMIN_ONLY,
    ("POST", "/policies"): ADMIN_ONLY,
    ("POST", "/policies/{version_id}/activate"): ADMIN_ONLY,
    ("POST", "/policies/shadow"): ADMIN_ONLY,
    ("POST", "/policies/backtest"): ADMIN_ONLY,
}
