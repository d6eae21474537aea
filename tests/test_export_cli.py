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
from lwm_nb.pipeline import main
from lwm_nb.train import fit


def lwm(*args):
    "`lwm ARGS` in a shell, as a user runs it."
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def lwm_here(capsys, *args):
    "`lwm ARGS` in this process (no interpreter start): its exit status and what it wrote to stderr."
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


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


def test_export_int8_without_calibration_data_for_a_non_digits_model_says_what_to_give(tmp_path, capsys):
    from lwm_nb.models import save_model
    save_model(student(3, conv5=16), tmp_path / "m.pt", classes=["a", "b", "c"], input_size=32)
    status, err = lwm_here(capsys, "export", tmp_path / "m.pt", "--out", tmp_path / "o", "--int8")
    assert status == 2 and "--calibrate DATA_DIR" in err


def test_predict_fails_clearly_on_what_it_cannot_use(trained, tmp_path, capsys):
    root, model, images = trained
    (tmp_path / "junk.png").write_text("not an image")
    status, err = lwm_here(capsys, "predict", model, tmp_path / "junk.png")
    assert status == 1 and "no image could be classified" in err
    status, err = lwm_here(capsys, "predict", tmp_path / "junk.png", images)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "not a model file" in err
    status, err = lwm_here(capsys, "predict", tmp_path / "nothing.onnx", images)
    assert status == 2 and "No ONNX file" in err
    status, err = lwm_here(capsys, "predict", model, images, "--top", "0")
    assert status == 2 and "--top must be at least 1" in err
