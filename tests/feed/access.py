"""Access rows for the app-client feed routes: any signed-in account; ownership is checked inside."""

from tests.foundation.access_rows import ANY

ACCESS = {
    ("POST", "/clips"): ANY,
    ("POST", "/clips/{clip_id}/remix"): ANY,
    ("GET", "/feed"): ANY,
    ("POST", "/clips/{clip_id}/report"): ANY,
    ("POST", "/decisions/{decision_id}/appeal"): ANY,
    ("GET", "/me/clips"): ANY,
}
