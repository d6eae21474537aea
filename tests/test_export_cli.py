"`lwm export` and `lwm predict` as a user runs them: a trained student to ONNX and INT8, predictions on a folder, bad input."
import json
import os
import shutil
import subprocess
from dataclasses import replace

import pytest
import torch

from lwm_nb.data import load_splits, make_digits, make_loaders
from lwm_nb.export import predict
from lwm_nb.models import student
from lwm_nb.train import fit


def lwm(*args):
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A student trained briefly on the digits through `fit`, so that its file records its classes and input size; and a folder of test images."
    root = tmp_path_factory.mktemp("export")
    splits = load_splits(make_digits(root / "digits"), size=32)
    torch.manual_seed(0)
    fit(student(10, conv5=32), make_loaders(replace(splits, train=splits.train.subset(range(400))), 64, seed=0), epochs=2,
        out=root / "run", progress=False)
    images = root / "images"
    images.mkdir()
    for path, _ in splits.test.samples[:50]: shutil.copy(path, images / f"{path.parent.name[0]}_{path.name}")
    return root, root / "run" / "model.pt", images


def test_export_writes_fp32_and_int8_and_predict_agrees_with_pytorch(trained):
    root, model, images = trained
    result = lwm("export", model, "--out", root / "onnx", "--int8", "--calibrate", root / "digits")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(root / "onnx" / "model.onnx"), str(root / "onnx" / "model_int8.onnx")]
    (images / "notes.txt.png").write_text("not an image")
    answer = lwm("predict", root / "onnx" / "model_int8.onnx", images, "--top", "2", "--json")
    assert answer.returncode == 0, answer.stderr
    by_onnx = [json.loads(line) for line in answer.stdout.splitlines()]
    assert len(by_onnx) == 50 and all(len(p["top"]) == 2 for p in by_onnx)
    assert "skipped" in answer.stderr and "notes.txt.png" in answer.stderr
    by_torch, _ = predict(model, [images])
    agree = sum(a["top"][0]["class"] == b["top"][0]["class"] for a, b in zip(by_onnx, by_torch)) / 50
    assert agree >= 0.9


def test_export_int8_without_calibration_data_for_a_non_digits_model_says_what_to_give(tmp_path):
    from lwm_nb.models import save_model
    save_model(student(3, conv5=16), tmp_path / "m.pt", classes=["a", "b", "c"], input_size=32)
    result = lwm("export", tmp_path / "m.pt", "--out", tmp_path / "o", "--int8")
    assert result.returncode == 2 and "--calibrate DATA_DIR" in result.stderr


def test_predict_fails_clearly_on_what_it_cannot_use(trained, tmp_path):
    root, model, images = trained
    (tmp_path / "junk.png").write_text("not an image")
    nothing = lwm("predict", model, tmp_path / "junk.png")
    assert nothing.returncode == 1 and "no image could be classified" in nothing.stderr
    not_model = lwm("predict", tmp_path / "junk.png", images)
    assert not_model.returncode == 2 and len(not_model.stderr.strip().splitlines()) == 1 and "not a model file" in not_model.stderr
    missing = lwm("predict", tmp_path / "nothing.onnx", images)
    assert missing.returncode == 2 and "No ONNX file" in missing.stderr
