"""How a benchmark makes sure it runs under the package main ``bench.__main__``."""

from __future__ import annotations

import os
import sys


def as_package_main(name: str) -> None:
    """Re-exec ``python -m bench.<name> ...`` as ``python -m bench <name> ...`` (see bench/__main__.py).

    Call it first in ``main()``: nothing has been measured yet.
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) in (None, "bench.__main__"):
        return  # already so, or not started with -m (a test calling main())
    os.execv(sys.executable, [sys.executable, "-m", "bench", name, *sys.argv[1:]])
