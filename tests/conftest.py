import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    "The whole run, its subprocesses included, keeps what lwm_nb writes for itself (the embedded digits, what it checked) in a folder of its own, never in the user's LWM_DATA."
    config.lwm_data = tempfile.mkdtemp(prefix="lwm_data_")
    os.environ["LWM_DATA"] = config.lwm_data


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "lwm_data", ""), ignore_errors=True)


def report_without_timings(out: Path) -> dict:
    "A run's report.json without what wall-clock measurements decide: two runs of the same settings must agree on the rest."
    report = json.loads((Path(out) / "report.json").read_text())
    for timed in ("speed_and_size", "deploy_speed", "cpu"): report.pop(timed, None)  # the CPU record holds the thread count; a run that does not ship has no deploy_speed
    if "pruning" in report:
        for key in ("threads", "cpu"): report["pruning"].pop(key)
        for row in report["pruning"]["rows"].values():
            for key in [k for k in row if k.endswith(("_ms", "_speedup"))]: row.pop(key)
    return report


@pytest.fixture(scope="session")
def small_digits(tmp_path_factory) -> Path:
    "The embedded digits cut to 12 training and 6 validation and test images a class: a whole `lwm run` in well under a minute."
    from lwm_nb.data import make_digits
    return make_digits(tmp_path_factory.mktemp("small") / "digits", per_class=(12, 6, 6))


# a whole run in seconds on `small_digits`: two seeds (a verdict needs them), one epoch a step, shipping on
TINY = {"teacher_epochs": 2, "student_epochs": 1, "retrain_epochs": 1, "seeds": 2, "students_per_class": 5, "transfer": True,
        "sweep": [64, 16], "speed_size": 32, "speed_batch": 4, "min_steps": 0, "teacher_min_steps": 0}


@pytest.fixture(scope="session")
def tiny_profile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path
