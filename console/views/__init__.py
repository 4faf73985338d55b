"""Console pages, one module per area, and the table of which roles see which page.

The package is ``views``, not ``pages``: Streamlit treats a ``pages/`` folder
beside the main script as its own multipage app and would list every module
here as a page in the sidebar.

``PAGES`` rows are (title, render(api, user), roles). The server enforces
every permission; this table only hides pages a role cannot use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.api import Api
from console.views import (
    admin,
    cameo,
    characters,
    clip,
    create,
    invites,
    overview,
    policies,
    review,
    safety,
    settings,
    standing,
    teens,
)
from console.views.common import ALL, STAFF

Render = Callable[[Api, dict[str, Any]], None]

PAGES: list[tuple[str, Render, tuple[str, ...]]] = [
    ("Overview", overview.overview, ALL),
    ("Review queue", review.review_queue, STAFF),
    ("Clip", clip.clip_page, STAFF),
    ("Policies", policies.policies, policies.ROLES),
    ("Characters", characters.characters, ("rights_holder", "admin", "moderator")),
    ("Safety", safety.safety, STAFF),
    ("My cameo", cameo.my_cameo, ("user",)),
    ("Feed and create", create.create, ("user",)),
    ("Teens", teens.teens, ("guardian", "admin")),
    ("Guardians", teens.my_guardians, ("user",)),
    ("My settings", settings.my_settings, ALL),
    ("My standing", standing.my_standing, ALL),
    ("Invites", invites.my_invites, ALL),
    ("Invites and quotas", invites.staff, STAFF),
    ("Account standing", standing.staff, STAFF),
    ("Audit log", admin.audit_log, ("admin",)),
    ("People", admin.people, ("admin",)),
]
