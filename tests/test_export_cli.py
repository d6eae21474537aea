"`lwm export` and `lwm predict` as a user runs them: a trained student to ONNX and INT8, predictions on a folder, bad input."
import json
import os
import shutil
import subprocess

import pytest
import torch

from lwm_nb.data import load_splits, make_digits, make_loaders
from lwm_nb.int8 import can_saturate, int8_weights
from lwm_nb.predict import predict
from lwm_nb.export import read_metadata
from lwm_nb.models import student
from lwm_nb.cli import main
from lwm_nb.train import fit


pytestmark = pytest.mark.xdist_group("export_cli")   # one test process trains the module's student, for all of them


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
    "A student trained on the digits through `fit`, so that its file records its classes and input size; and a folder of test images."
    root = tmp_path_factory.mktemp("export")
    splits = load_splits(make_digits(root / "digits"), size=32)
    torch.manual_seed(0)
    # trained well enough (test macro-F1 about 0.89) that few images sit on a tie between two classes: agreement then measures INT8
    fit(student(10, conv5=32), make_loaders(splits, 64, seed=0), epochs=6, out=root / "run", progress=False)
    images = root / "images"
    images.mkdir()
    for path, _ in splits.test.samples[:50]: shutil.copy(path, images / f"{path.parent.name[0]}_{path.name}")
    return root, root / "run" / "model.pt", images


def test_export_writes_fp32_and_int8_and_predict_agrees_with_pytorch(trained, capsys):
    root, model, images = trained
    result = lwm("export", model, "--out", root / "onnx", "--int8", "--calibrate", root / "digits")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(root / "onnx" / "model.onnx"), str(root / "onnx" / "model_int8.onnx")]
    shipped = root / "onnx" / "model_int8.onnx"
    weights = int8_weights(shipped)   # what a CPU without VNNI needs, read from the file: a CPU with VNNI would hide it
    assert weights["activations"] == ["uint8"] and -64 <= weights["min"] and weights["max"] <= 64 and not can_saturate(shipped)
    advice = result.stderr.strip().splitlines()[-1]
    assert "On this CPU (" in advice and "thread" in advice and "ship INT8" in advice, result.stderr
    (images / "notes.txt.png").write_text("not an image")
    status = main(["predict", str(root / "onnx" / "model_int8.onnx"), str(images), "--top", "2", "--json"])  # in this process: the script is test_cli's
    answer = capsys.readouterr()
    assert status == 0, answer.err
    by_onnx = [json.loads(line) for line in answer.out.splitlines()]
    assert len(by_onnx) == 50 and all(len(p["top"]) == 2 for p in by_onnx)
    assert "skipped" in answer.err and "notes.txt.png" in answer.err
    by_torch, _ = predict(model, [images])
    agree = sum(a["top"][0]["class"] == b["top"][0]["class"] for a, b in zip(by_onnx, by_torch)) / 50
    assert agree >= 0.98


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


def test_export_takes_another_int8_scheme_and_refuses_a_size_below_one(trained, tmp_path, capsys):
    root, model, _ = trained
    status, err = lwm_here(capsys, "export", model, "--out", tmp_path, "--int8", "--calibrate", root / "digits", "--scheme", "u8s8")
    assert status == 0, err
    assert read_metadata(tmp_path / "model_int8.onnx")["int8_scheme"] == "u8s8" and can_saturate(tmp_path / "model_int8.onnx")
    status, err = lwm_here(capsys, "export", model, "--out", tmp_path, "--size", "-3")
    assert status == 2 and "--size must be at least 1 pixel" in err


def test_predict_streams_a_folder_a_batch_at_a_time_and_names_an_empty_one(trained, tmp_path, capsys, monkeypatch):
    root, model, images = trained
    import lwm_nb.predict as predict_module
    read = []
    monkeypatch.setattr(predict_module, "read_rgb", lambda f, _read=predict_module.read_rgb: read.append(f) or _read(f))
    stream = predict_module.predictions(model, [images], top=1, batch=8)
    first = next(stream)
    assert "top" in first and len(read) == 8   # one batch read before the first answer, not the whole folder
    assert len(list(stream)) == len(predict_module.image_files([images])) - 1
    (tmp_path / "empty").mkdir()
    status, err = lwm_here(capsys, "predict", model, tmp_path / "empty")
    assert status == 2 and "no image file in" in err   # nothing to classify: bad usage


def test_a_student_of_another_architecture_exports_to_int8_and_predicts(trained, tmp_path, capsys):
    root, _, images = trained
    from lwm_nb.digits import DIGIT_NAMES
    from lwm_nb.models import save_model
    torch.manual_seed(0)
    mobile = save_model(student(10, arch="mobilenet_v3_small").eval(), tmp_path / "mobile.pt", classes=list(DIGIT_NAMES), input_size=32)
    status, err = lwm_here(capsys, "export", mobile, "--out", tmp_path / "onnx", "--int8")   # calibrated on the embedded digits
    assert status == 0, err
    assert read_metadata(tmp_path / "onnx" / "mobile.onnx")["architecture"] == {"kind": "torchvision", "arch": "mobilenet_v3_small", "n_classes": 10}
    for model in (mobile, tmp_path / "onnx" / "mobile_int8.onnx"):
        assert main(["predict", str(model), str(images), "--top", "1", "--json"]) == 0
        answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(answers) == 50 and all(a["top"][0]["class"] in DIGIT_NAMES for a in answers)
