"""Helper process for the job-lease test: open the data dir, claim one job, report it, hang.

Run as ``python _claim_and_hang.py DATA_DIR WORKER_ID LEASE_S``; the test SIGKILLs it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from store.db import Store
from store.jobs import claim


def main() -> None:
    data_dir, worker_id, lease_s = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    store = Store(data_dir)
    job = claim(store, worker_id, ["scan"], lease_s)
    if job is None:
        print(json.dumps({"job": None}), flush=True)
        return
    print(
        json.dumps(
            {
                "job": job.id,
                "attempt": job.attempt,
                "worker": job.worker,
                "expires": job.lease_expires_at.isoformat(),
            }
        ),
        flush=True,
    )
    while True:  # "working" until killed, never completing
        time.sleep(1)


if __name__ == "__main__":
    main()
