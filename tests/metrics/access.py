"""Access rows for the metrics API (issue 14): the Overview's metrics and what waits for me."""

from tests.foundation.access_rows import STAFF

ACCESS = {
    ("GET", "/metrics/overview"): STAFF,
    ("GET", "/me/work"): STAFF,
}
