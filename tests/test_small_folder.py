"A user's own small folder (BIRDS layout, 5 classes, 59 training images) and a folder of images without labels: training is sized by steps, evaluation is right after few steps, the loose images join the transfer set, and the run says what its budget was."
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from lwm_nb.data import load_splits, make_loaders
from lwm_nb.models import teacher
from lwm_nb.train import fit
from lwm_nb.lr_schedules import step

CLASSES = ["ABBOTTS BABBLER", "BALD EAGLE", "CASPIAN TERN", "DALMATIAN PELICAN", "EMU"]


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    "Five digit classes written as bird folders: 12, 12, 12, 12 and 11 training images, 5 a class in valid and test."
    root = tmp_path_factory.mktemp("small") / "birds"
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


def teacher_f1(folder, recalibrate_bn_below):
    splits = load_splits(folder, size=32)
    assert len(splits.train) == 59
    torch.manual_seed(0)
    result = fit(teacher(5), make_loaders(splits, 16, seed=0), epochs=6, lr_schedule=step(1e-3, every=2, gamma=0.6), seed=0,
                 recalibrate_bn_below=recalibrate_bn_below, progress=False)
    assert len(result.history) * 4 == 24  # 4 batches an epoch: 24 optimizer steps in all
    return result.best_f1


def test_a_teacher_validated_after_few_steps_is_judged_on_settled_batchnorm_statistics(small_folder):
    stale = teacher_f1(small_folder, recalibrate_bn_below=0)     # running averages, as before
    settled = teacher_f1(small_folder, recalibrate_bn_below=50)   # re-estimated on training images
    assert settled >= 2 * (1 / 5), f"validation macro-F1 {settled:.3f} after 24 steps, chance is 0.2"
    assert settled > stale


def test_a_small_folder_trains_for_the_minimum_number_of_steps_and_unlabelled_images_join_its_transfer_set(small_folder, tmp_path):
    profile = tmp_path / "small.json"
    profile.write_text(json.dumps({"teacher_epochs": 6, "teacher_min_steps": 48, "student_epochs": 1, "min_steps": 8,
                                   "retrain_epochs": 1, "seeds": 2, "students_per_class": None, "sweep": [64],
                                   "speed_size": 32, "speed_batch": 2, "deploy": False}))
    loose = tmp_path / "loose" / "any" / "depth"   # images without labels, at any depth, one of them unreadable
    loose.mkdir(parents=True)
    for k, image in enumerate(sorted((small_folder / "test").rglob("*.jpg"))[:12]): shutil.copy(image, loose / f"{k}.jpg")
    (loose / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "run"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(["lwm", "run", "--data", str(small_folder), "--profile", str(profile), "--out", str(out),
                             "--unlabelled", str(tmp_path / "loose")],
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "12 epochs × 4 steps = 48 optimizer steps on 59 images (raised from 6 epochs" in result.stderr
    assert "2 epochs × 4 steps on 59 labelled images" in result.stderr  # students: 8 steps at least
    report = json.loads((out / "report.json").read_text())
    teacher_history = json.loads((out / "results" / "teacher.json").read_text())["history"]
    assert len(teacher_history) == 12
    check = report["teacher_check"]
    assert check["chance_f1"] == pytest.approx(0.2)
    assert check["teacher_valid_f1"] >= 0.4, check   # 48 steps and settled statistics: clearly above chance
    assert not (out / "teacher" / "checkpoint.pt").exists()   # a finished step keeps its model, not its checkpoint
    assert (out / "teacher" / "model.pt").exists()
    lines = result.stderr.splitlines()
    assert sum("done, test macro-F1" in line for line in lines) == 1 + 2 * 10  # one progress line a step (ten a seed; shipping is off here)
    assert "broken.png" in result.stderr   # named and left out, as in --data
    assert report["data"]["transfer"] == 12 and report["data"]["unlabelled"] == str(tmp_path / "loose")
    assert report["trained_on"]["kd"] == "59 labelled + 12 unlabelled images" and report["trained_on"]["student"] == "59 labelled images"
    assert "12 images without labels" in (out / "report.md").read_text()
