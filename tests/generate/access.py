"""Access rows for generation, clip media and provenance verification.

Any signed-in account may generate (teen rules come from the policy), fetch
media it may see (ownership, publication and audience are checked in the
pipeline) and verify a file.
"""

from tests.foundation.access_rows import ANY, STAFF

ACCESS = {
    ("POST", "/generate"): ANY,
    # Daily generation quotas (issue 13): your own, and staff's view and setting of anyone's.
    ("GET", "/me/quota"): ANY,
    ("GET", "/users/{handle}/quota"): STAFF,
    ("PUT", "/users/{handle}/quota"): STAFF,
    ("GET", "/clips/{clip_id}/media"): ANY,
    ("POST", "/provenance/verify"): ANY,
}
