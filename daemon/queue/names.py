"""The dotted names jobs are stored under in Redis.

RQ stores a job's function, and its callbacks, by name. A worker runs only these
(see :mod:`.functions`), whatever else a job in Redis may name.
"""

from __future__ import annotations

_JOBS = "assemblyd.queue.jobs"

RUN_ASSEMBLY = f"{_JOBS}.run_assembly"
ENCODE_PART = f"{_JOBS}.encode_part"
JOIN_ASSEMBLY = f"{_JOBS}.join_assembly"
ON_FAILURE = f"{_JOBS}.on_failure"
ON_STOPPED = f"{_JOBS}.on_stopped"

#: Names that jobs queued by version 0.1 (when the package was imported as
#: ``daemon``) hold; they still run after an upgrade.
LEGACY = {
    "daemon.jobs.run_assembly": RUN_ASSEMBLY,
    "daemon.jobs.encode_part": ENCODE_PART,
    "daemon.jobs.join_assembly": JOIN_ASSEMBLY,
    "daemon.jobs.on_failure": ON_FAILURE,
    "daemon.jobs.on_stopped": ON_STOPPED,
}
