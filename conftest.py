"""Project-wide pytest set-up (loaded by the Django suite and the Django-free engine run).

Hypothesis: under CI (``CI`` set) examples are derandomised, so a run is reproducible and
a red CI always reproduces locally with ``CI=true``; laptops explore new examples each run.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
