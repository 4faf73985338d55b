"""``python -m bench <name> [args]``: run ``bench.<name>``'s ``main()`` under a package main.

Benchmarks that decode video measure the gate's decoder and C2PA children,
and multiprocessing re-runs the parent's main module in each child unless it
is a package's ``__main__`` (this file). Run as ``python -m bench.<name>``, a
benchmark that imports the application at the top would put that import
(seconds of CPU) into every child it measures; :func:`bench.entry.as_package_main`
re-execs such a run through here, as the server runs as ``python -m greenroom``.
"""

from __future__ import annotations

import importlib
import re
import sys


def run() -> None:
    if len(sys.argv) < 2 or not re.fullmatch(r"[a-z_]+", sys.argv[1]):
        raise SystemExit("usage: python -m bench <name> [args]  (e.g. python -m bench peer)")
    name = sys.argv[1]
    module = importlib.import_module(f"bench.{name}")
    sys.argv = [f"bench.{name}", *sys.argv[2:]]
    module.main()


if __name__ == "__main__":
    run()
