"""The detached supervisor of one job: `python -m skills.jobs.runner JOB_ID --home HOME [--reattach]`.

It runs in its own session so the bot can restart without touching the job; it writes every event to the
job store and the final state, so any process can follow the job by reading the store.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from config.settings import Settings, load_settings
from skills.jobs.liveness import Heartbeat
from skills.jobs.protocol import Outcome
from skills.jobs.store import ACTIVE, Job, JobStore

log = logging.getLogger("skills.jobs.runner")


def executor_for(settings: Settings, store: JobStore, job: Job):  # type: ignore[no-untyped-def]
    """The executor object that runs this job."""
    if job.executor == "ray":
        from skills.jobs.ray_exec import RayExecutor

        return RayExecutor(settings, store)
    from skills.jobs.local import LocalExecutor

    return LocalExecutor(settings, store)


def supervise(settings: Settings, job_id: str, *, reattach: bool = False) -> Outcome:
    """Run one attempt of a job to its end and record the outcome."""
    store = JobStore(settings)
    job = store.get(job_id)
    if job.state not in ACTIVE:
        return Outcome(state=job.state, error=job.error, adapter=job.adapter)
    heartbeat = Heartbeat(settings, job_id, os.getpid()).start()  # readers tell a dead supervisor by these
    try:
        outcome = executor_for(settings, store, job).run(job, reattach=reattach)
    except Exception as exc:  # the supervisor's own bug: say so, keep the traceback in runner.log
        log.exception("job %s supervisor failed", job_id)
        outcome = Outcome(state="failed", error=f"The job supervisor failed ({type(exc).__name__}: {exc}); "
                          "see runner.log in the job folder and retry.")
    finally:
        heartbeat.stop()
    store.transition(job_id, outcome.state, error=outcome.error, adapter=outcome.adapter)  # type: ignore[arg-type]
    log.info("job %s ended: %s %s", job_id, outcome.state, outcome.error or outcome.adapter or "")
    store.close()
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Command-line entry of the supervisor."""
    parser = argparse.ArgumentParser(prog="python -m skills.jobs.runner")
    parser.add_argument("job_id")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--reattach", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.config, home=args.home)
    outcome = supervise(settings, args.job_id, reattach=args.reattach)
    return 0 if outcome.state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
