import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    "The whole run, its subprocesses included, keeps what lwm_nb writes for itself (the embedded digits, what it checked) in a folder of its own, never in the user's LWM_DATA."
    config.lwm_data = tempfile.mkdtemp(prefix="lwm_data_")
    os.environ["LWM_DATA"] = config.lwm_data


# the tests that run `lwm`, torchrun or a benchmark end to end, longest first: started first, they leave the short ones
# to fill in beside them (pytest -n 2), not to finish while one long test runs alone
LONGEST_FIRST = ["test_pipeline.py", "test_distributed.py", "test_notebooks.py", "test_small_folder.py", "test_benchmarks.py",
                 "test_train.py", "test_cli.py", "test_export_cli.py"]
HEAVY_NOTEBOOKS = ["10_train.ipynb", "11_prune.ipynb", "20_pipeline.ipynb", "12_export.ipynb"]   # a minute or more each under test


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    def order(item):
        notebook = getattr(item, "callspec", None) and item.callspec.params.get("notebook")
        heavy = notebook is None or Path(notebook).name in HEAVY_NOTEBOOKS
        return rank.get(item.path.name, len(rank)), not heavy
    items.sort(key=order)   # stable: each file's tests keep their order


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
TINY = {"teacher_epochs": 2, "student_epochs": 1, "retrain_epochs": 1, "seeds": 2, "students_per_class": 5, "transfer": True,
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
