"The `lwm` command end to end: clear errors, the report's layout, and resume after SIGKILL."
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import report_without_timings
from lwm_nb.export import can_saturate

TINY = {"teacher_epochs": 1, "student_epochs": 2, "retrain_epochs": 1, "seeds": 2, "students_per_class": 5, "transfer": True,
        "sweep": [64, 16], "speed_size": 32, "min_steps": 0, "teacher_min_steps": 0}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    home = tmp_path_factory.mktemp("lwm_data")
    return {**os.environ, "LWM_DATA": str(home), "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def lwm(*args, env, **kw):
    return subprocess.run(["lwm", *args], env=env, capture_output=True, text=True, **kw)


def test_help_names_every_option(env):
    result = lwm("run", "--help", env=env)
    assert result.returncode == 0
    for option in ("--data", "--out", "--profile", "--seeds", "--device", "quick", "recipe"):
        assert option in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/folder"], "Data folder /no/such/folder does not exist"),
    (["--profile", "huge"], "unknown profile 'huge'"),
    (["--seeds", "0"], "seeds must be at least 1"),
    (["--unlabelled", "/no/such/folder"], "--unlabelled /no/such/folder: no such folder"),
])
def test_bad_arguments_give_one_clear_line(env, tmp_path, args, message):
    result = lwm("run", "--out", str(tmp_path / "out"), *args, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lwm: error:")]
    assert len(errors) == 1 and message in errors[0]


def test_bad_data_gives_one_clear_line(env, tmp_path):
    (tmp_path / "data" / "train" / "A").mkdir(parents=True)
    result = lwm("run", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no valid/, test/ folder" in result.stderr



def test_killed_run_resumes_to_the_report_of_an_uninterrupted_run(env, tiny_profile, tmp_path):
    straight = tmp_path / "straight"
    result = lwm("run", "--profile", str(tiny_profile), "--out", str(straight), env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((straight / "report.json").read_text())
    assert set(report["methods"]) == {"teacher", "student", "kd_labelled", "kd", "kd_decreasing_t", "kd_retrained_50", "kd_retrained",
                                      "pruned_50", "pruned_60", "channels_50", "channels_60"}
    assert report["trained_on"]["kd_decreasing_t"] == "50 labelled + 1,207 unlabelled images"   # 5 a class; the rest is the transfer set
    assert report["trained_on"]["kd_labelled"] == report["trained_on"]["student"] == "50 labelled images"
    epochs = {m: len(json.loads((straight / "results" / m / "seed0.json").read_text())["history"])
              for m in ("student", "kd_labelled", "kd_decreasing_t")}
    assert set(epochs.values()) == {2} and report["data"]["student_steps"] == 2 * 4   # 50 images in batches of 16: 4 steps an epoch, for all
    for method in report["methods"].values():
        assert {"f1", "f1_std", "params"} <= set(method)
    assert report["methods"]["student"]["seeds"] == 2 and report["methods"]["teacher"]["seeds"] == 1
    assert report["methods"]["pruned_60"]["params"] < report["methods"]["pruned_50"]["params"] < report["methods"]["kd"]["params"]
    assert report["methods"]["channels_60"]["params"] < report["methods"]["channels_50"]["params"] < report["methods"]["kd"]["params"]
    compared = report["pruning"]["rows"]  # channels removed: less work; weights zeroed: the same work
    assert compared["channels_60"]["mult_adds_ratio"] > compared["channels_50"]["mult_adds_ratio"] > 1
    assert compared["pruned_60"]["mult_adds_ratio"] == 1 and compared["channels_60"]["onnx_ms"] > 0
    assert set(report["conv5_sweep"]) == {"64", "16"}
    assert report["profile"] == "tiny" and report["data"]["embedded"] is True
    for name in ("report.md", "ablation.png", "effects.png", "learning_curves.png", "confusion.png", "sparsity.png",
                 "speed_and_size.png", "pruning_tradeoff.png", "methods.csv", "effects.csv", "conv5_sweep.csv", "speed_and_size.csv"):
        assert (straight / name).is_file(), name
    assert "## Methods" in (straight / "report.md").read_text()
    assert {"cpu", "torch_isa", "vnni", "threads"} <= set(report["cpu"]) and report["deploy_speed"]["cpu"]["threads"] >= 1
    assert "**What to ship.** On this CPU (" in (straight / "report.md").read_text()
    shipped = sorted(straight.glob("deploy/seed*/*_int8.onnx"))   # read from the files: a CPU with VNNI would hide saturation
    assert len(shipped) == 4 and not any(can_saturate(f) for f in shipped)
    assert "2 step(s) at a time" in result.stdout or os.cpu_count() < 2

    # one core, one step at a time in one process: the same numbers as two steps side by side
    single = tmp_path / "single"
    result = subprocess.run(["taskset", "-c", "0", "lwm", "run", "--profile", str(tiny_profile), "--out", str(single)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 step(s) at a time with 1 thread(s) each" in result.stdout
    assert report_without_timings(single) | {"data": None} == report_without_timings(straight) | {"data": None}

    resumed = tmp_path / "resumed"
    # kill it twice: inside the first students' training, and while seed 0 ships its students (seed 1 still trains)
    for marker in ("teacher/model.pt", "deploy/seed0/kd_decreasing_t.onnx"):
        proc = subprocess.Popen(["lwm", "run", "--profile", str(tiny_profile), "--out", str(resumed)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while not (resumed / marker).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    result = lwm("run", "--profile", str(tiny_profile), "--out", str(resumed), env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert report_without_timings(resumed) | {"data": None} == report_without_timings(straight) | {"data": None}

    # a finished run is not redone; other settings in the same folder are refused
    stored = {p: p.stat().st_mtime_ns for p in (resumed / "results").glob("*.json")}
    assert lwm("run", "--profile", str(tiny_profile), "--out", str(resumed), env=env).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in (resumed / "results").glob("*.json")} == stored
    other = lwm("run", "--profile", "quick", "--out", str(resumed), env=env)
    assert other.returncode == 2 and "other settings" in other.stderr


def test_a_folder_of_unlabelled_images_joins_the_transfer_set(env, tmp_path):
    from lwm_nb.data import make_digits
    digits = make_digits(tmp_path / "digits")
    loose = tmp_path / "loose" / "any" / "depth"
    loose.mkdir(parents=True)
    for k, image in enumerate(sorted((digits / "test").rglob("*.png"))[:12]): shutil.copy(image, loose / f"{k}.png")
    (loose / "broken.png").write_bytes(b"not a png")
    profile = tmp_path / "one.json"
    profile.write_text(json.dumps({**TINY, "seeds": 1, "transfer": False, "sweep": [64], "deploy": False}))
    result = lwm("run", "--profile", str(profile), "--unlabelled", str(tmp_path / "loose"), "--out", str(tmp_path / "out"),
                 env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "broken.png" in result.stderr   # named and left out, as in --data
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["data"]["transfer"] == 12 and report["data"]["unlabelled"] == str(tmp_path / "loose")
    assert report["trained_on"]["kd"] == "50 labelled + 12 unlabelled images"
    assert "12 images without labels" in (tmp_path / "out" / "report.md").read_text()
