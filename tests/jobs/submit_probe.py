"""`python -m tests.jobs.submit_probe HOME DATASET GO_FILE`: one submitter process for the concurrency test.

It waits until GO_FILE exists (so all submitters start together), submits through `submit_training` with the
fake worker, and prints the returned document as JSON.
"""

import sys
import time
from pathlib import Path

from config.settings import Settings
from skills.jobs import JobManager
from skills.jobs.submit import submit_training
from tests.jobs.conftest import FAKE_WORKER


def main() -> None:
    home, dataset, go = sys.argv[1:4]
    settings = Settings(home=Path(home), base_model="tiny")
    manager = JobManager(settings, worker=[str(FAKE_WORKER)])
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    doc = submit_training(settings, "persona-lora", dataset=dataset, manager=manager, max_steps=3)
    print(doc.model_dump_json())


if __name__ == "__main__":
    main()
