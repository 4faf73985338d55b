"""Access rows for the gate's routes: scans, prompt checks, clips, review queues, policy versions.

Policy authors (and admins) read, validate, save, backtest and shadow policy
versions; activating one is admin work. Queues are staff work (admins and
moderators; not policy authors); any signed-in account scans its own uploads
(ownership of clips is checked in the handlers).
"""

from tests.foundation.access_rows import ANY, STAFF

ADMIN_ONLY = {"admin"}
POLICY_AUTHORS = {"admin", "policy_author"}

ACCESS = {
    ("POST", "/scan"): ANY,
    ("POST", "/prompt-check"): ANY,
    ("GET", "/clips/{clip_id}"): ANY,
    ("GET", "/clips/{clip_id}/decisions"): ANY,
    ("GET", "/clips/{clip_id}/dossier"): STAFF,
    ("GET", "/queues"): STAFF,
    ("GET", "/queues/{queue}"): STAFF,
    ("GET", "/queue-items/{item_id}"): STAFF,
    ("POST", "/queue-items/{item_id}/claim"): STAFF,
    ("POST", "/queue-items/{item_id}/release"): STAFF,
    ("POST", "/queue-items/{item_id}/assign"): ADMIN_ONLY,
    ("POST", "/queue-items/{item_id}/decide"): STAFF,
    ("POST", "/decisions/{decision_id}/undo"): STAFF,
    ("GET", "/policies"): POLICY_AUTHORS,
    ("GET", "/policies/active"): POLICY_AUTHORS,
    ("GET", "/policies/{version_id}"): POLICY_AUTHORS,
    ("POST", "/policies/validate"): POLICY_AUTHORS,
    ("POST", "/policies"): POLICY_AUTHORS,
    ("POST", "/policies/{version_id}/activate"): ADMIN_ONLY,
    ("POST", "/policies/shadow"): POLICY_AUTHORS,
    ("POST", "/policies/backtest"): POLICY_AUTHORS,
}
