"""Training jobs: the SQLite job store, the local and Ray executors, and the JobManager that ties them together."""

from skills.jobs.manager import JobManager
from skills.jobs.store import Job, JobEvent, JobStore

__all__ = ["Job", "JobEvent", "JobManager", "JobStore"]
