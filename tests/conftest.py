import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("MPLBACKEND", "Agg")

NBS = Path(__file__).resolve().parents[1] / "nbs"
# the lessons at the top of nbs/, in reading order, then the machinery in its folder (JupyterLab's checkpoints are not notebooks of ours)
NOTEBOOKS = sorted(NBS.glob("*.ipynb")) + sorted(NBS.glob("machinery/*.ipynb"))


def pytest_configure(config):
    "The whole run, its subprocesses included, keeps what lwm_nb writes for itself (the embedded digits, what it checked) in a folder of its own, never in the user's LWM_DATA."
    config.lwm_data = tempfile.mkdtemp(prefix="lwm_data_")
    os.environ["LWM_DATA"] = config.lwm_data
    os.environ["LWM_OFFLINE"] = "1"   # no test reaches the network: a test that downloads replaces the download


# Seconds the slowest tests took in CI (two test processes on two cores, `pytest --durations=0`; re-measure when they change).
# pytest --dist loadgroup hands tests out in collection order, one at a time to whichever process is free: started longest
# first, the long ones spread over both processes and the short ones fill the end, instead of one long test running alone last.
SECONDS = {"pass[20_pipeline.ipynb]": 74, "test_lwm_run_with_two_processes": 61, "test_export_cli.py::": 60, "test_pipeline.py::test_a_users_folder": 49,
           "pass[12_export.ipynb]": 28, "test_the_gpu_check": 27, "pass[10_train.ipynb]": 21, "pass[11_prune.ipynb]": 19, "test_under_torchrun": 19,
           "test_the_deploy_benchmark": 15, "test_the_own_folder_benchmark": 40, "test_the_step_cost_benchmark": 14, "test_a_loss_that_becomes_nan": 13, "test_kd_variants_train": 93, "test_ctrl_c_or_a_batch_systems_sigterm_stops_the_run_with_one_line_and_it_resumes[15": 30, "test_ctrl_c": 12,
           "pass[10a_checkpoints.ipynb]": 9, "test_the_structured_pruning_benchmark": 9, "pass[06_evaluate.ipynb]": 8, "pass[17_steps.ipynb]": 7,
           "test_sigkill_at_any_moment": 6, "test_a_teacher_validated_after_few_steps": 6, "test_masks_held_through": 6,
           "pass[04a_missing_class.ipynb]": 5, "pass[08_teacher_cache.ipynb]": 5, "pass[14_report.ipynb]": 4}


def expected_seconds(item) -> int:
    return max((seconds for key, seconds in SECONDS.items() if key in item.nodeid), default=0)


# Tests that run a whole pipeline on every core: two of them side by side (one in each test process) take half as long
# again as one after the other (measured: 180 s each side by side, 52 s and 70 s alone), so one test process runs them in turn.
EVERY_CORE = ("pass[20_pipeline.ipynb]", "test_pipeline.py::test_a_users_folder", "test_cli.py::test_ctrl_c_or_a_batch",
              "test_cli.py::test_kd_variants")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -expected_seconds(item))   # stable: the rest keep their order
    for item in items:
        if any(key in item.nodeid for key in EVERY_CORE): item.add_marker(pytest.mark.xdist_group("every_core"))


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "lwm_data", ""), ignore_errors=True)


def report_without_timings(out: Path) -> dict:
    "A run's report.json without what wall-clock measurements decide: two runs of the same settings must agree on the rest."
    report = json.loads((Path(out) / "report.json").read_text())
    for timed in ("speed_and_size", "deploy_speed", "cpu", "wall_clock_s"): report.pop(timed, None)  # the CPU record holds the thread count; a run that does not ship has no deploy_speed
    if "pruning" in report:
        for key in ("threads", "cpu"): report["pruning"].pop(key)
        for row in report["pruning"]["rows"].values():
            for key in [k for k in row if k.endswith(("_ms", "_speedup"))]: row.pop(key)
    return report


def stopped_early(finished: Path, out: Path, later: tuple[str, ...]):
    "Copy the finished run folder to `out` as a run stopped before the steps `later` would have left it: no file or folder whose name starts with one of them, no report, no speed measured."
    shutil.copytree(finished, out)
    for path in sorted(out.rglob("*"), reverse=True):   # children before their folders
        named_later = any(part.startswith(later) for part in path.relative_to(out).parts)
        measured = path.is_file() and path.parent in (out, out / "results") and path.name not in ("run.json", "teacher.json")
        if path.exists() and (named_later or measured): shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert (out / "results" / "teacher.json").is_file() and not (out / "report.json").exists()


@pytest.fixture(scope="session")
def small_digits(tmp_path_factory) -> Path:
    "The embedded digits cut to 12 training and 6 validation and test images a class: a whole `lwm run` in well under a minute."
    from lwm_nb.data import make_digits
    return make_digits(tmp_path_factory.mktemp("small") / "digits", per_class=(12, 6, 6))


# a whole run in seconds on `small_digits`: two seeds (a verdict needs them), one epoch a step, shipping on
TINY = {"batch_size": 16, "teacher_epochs": 2, "student_epochs": 1, "retrain_epochs": 1, "seeds": 2, "students_per_class": 5, "transfer": True,
        "sweep": [64, 16], "speed_size": 32, "speed_batch": 4, "speed_repeats": 1, "min_steps": 0, "teacher_min_steps": 0}


@pytest.fixture(scope="session")
def tiny_profile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("profiles") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


CLASSES = ["ABBOTTS BABBLER", "BALD EAGLE", "CASPIAN TERN", "DALMATIAN PELICAN", "EMU"]


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory):
    "Five digit classes written as bird folders: 12, 12, 12, 12 and 11 training images, 5 a class in valid and test."
    root = tmp_path_factory.mktemp("small") / "birds"
    from sklearn.datasets import load_digits
    digits = load_digits()
    for label, name in enumerate(CLASSES):
        images = digits.images[digits.target == label]
        counts = {"train": 12 - (label == 4), "valid": 5, "test": 5}
        start = 0
        for split, n in counts.items():
            (root / split / name).mkdir(parents=True)
            for k, pixels in enumerate(images[start:start + n]):
                Image.fromarray((pixels * 255 / 16).round().astype(np.uint8), "L").save(root / split / name / f"{k}.jpg")
            start += n
    return root
