"Training with two processes on CPU (gloo), as a user starts it: `torchrun` around `fit`, and `lwm run --nproc 2`."
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import report_without_timings

ROOT = Path(__file__).parents[1]

FIT_SCRIPT = '''
import hashlib, json, sys
from dataclasses import replace
from pathlib import Path
import torch
from lwm_nb.data import load_splits, make_digits, make_loaders, per_class_subset
from lwm_nb.models import student, teacher
from lwm_nb.train import distributed, fit
out, batch = Path(sys.argv[1]), int(sys.argv[2])
splits = load_splits(make_digits(), size=32)
loaders = make_loaders(replace(splits, train=per_class_subset(splits.train, 20, 0)), batch)
torch.manual_seed(0); the_teacher = teacher(10, verbose=False)
torch.manual_seed(1)
result = fit(student(10, conv5=16, verbose=False), loaders, 3, teacher=the_teacher, out=out / "run", progress=False)
rank, world = distributed()
weights = hashlib.sha256(b"".join(v.cpu().numpy().tobytes() for v in result.model.state_dict().values())).hexdigest()
(out / f"rank{rank}.json").write_text(json.dumps({"world": world, "weights": weights, "history": list(result.history)}))
'''


def env_for(tmp_path) -> dict:
    return {**os.environ, "LWM_DATA": str(tmp_path / "lwm_data"), "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}


def torchrun(*args, tmp_path, nproc=2, **kw):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *map(str, args)],
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def fit_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("scripts") / "fit_two.py"
    path.write_text(FIT_SCRIPT)
    return path


def test_under_torchrun_the_ranks_end_with_the_same_weights_and_history_and_one_set_of_files(fit_script, tmp_path):
    done = torchrun(fit_script, tmp_path, 16, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 3
    # one checkpoint and one model file, written by process 0 alone, holding those weights
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "model.pt"]
    import hashlib
    from lwm_nb.models import load_model
    saved = load_model(tmp_path / "run" / "model.pt")
    assert hashlib.sha256(b"".join(v.numpy().tobytes() for v in saved.state_dict().values())).hexdigest() == ranks[0]["weights"]


def test_a_global_batch_the_processes_cannot_share_is_refused(fit_script, tmp_path):
    done = torchrun(fit_script, tmp_path, 15, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "the global batch of 15 is not divisible by the 2 processes" in done.stderr


def test_distributed_kd_scores_close_to_single_process_kd_over_seeds(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "distributed.py"), "--out", str(tmp_path)],
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = re.findall(r"^\s+(\d)\s+([0-9.]+)\s+([0-9.]+)\s+([-+][0-9.]+)$", done.stdout, re.M)
    assert len(rows) == 3, done.stdout
    differences = [float(d) for *_, d in rows]
    # measured here: −0.041, −0.003, −0.001 (mean −0.015 ± 0.013): BatchNorm over half-batches, nothing more
    assert abs(sum(differences) / 3) <= 0.05 and max(map(abs, differences)) <= 0.08, done.stdout


TINY = {"teacher_epochs": 1, "student_epochs": 2, "retrain_epochs": 1, "seeds": 2, "students_per_class": 5,
        "sweep": [64, 16], "speed_size": 32, "min_steps": 0, "teacher_min_steps": 0}


def lwm(*args, tmp_path, **kw):
    return subprocess.run(["lwm", *map(str, args)], env=env_for(tmp_path), capture_output=True, text=True, timeout=900, **kw)



def test_lwm_run_with_two_processes_killed_resumes_to_the_report_of_an_uninterrupted_one(tmp_path):
    profile = tmp_path / "tiny.json"
    profile.write_text(json.dumps(TINY))
    straight = tmp_path / "straight"
    done = lwm("run", "--nproc", 2, "--profile", profile, "--out", straight, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "each step trained by 2 processes" in done.stdout
    report = json.loads((straight / "report.json").read_text())
    assert report["methods"]["kd"]["seeds"] == 2 and (straight / "report.md").is_file()
    assert not list(straight.rglob("checkpoint.pt"))  # finished steps drop their checkpoints

    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(["lwm", "run", "--nproc", "2", "--profile", str(profile), "--out", str(resumed)], env=env_for(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (resumed / "kd_decreasing_t" / "seed0" / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both of its processes, at once
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = lwm("run", "--nproc", 2, "--profile", profile, "--out", resumed, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert report_without_timings(resumed) | {"data": None} == report_without_timings(straight) | {"data": None}


@pytest.mark.parametrize("settings, args, message", [
    ({"batch_size": 15}, [], "batch_size 15 is not divisible by --nproc 2"),
    ({}, ["--device", "cuda"], "no CUDA GPU"),
])
def test_bad_distributed_setups_fail_before_starting_with_one_clear_line(tmp_path, settings, args, message):
    import torch
    if "cuda" in args and torch.cuda.is_available(): pytest.skip("this machine has CUDA")
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({**TINY, **settings}))
    done = lwm("run", "--nproc", 2, "--profile", profile, "--out", tmp_path / "out", *args, tmp_path=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("lwm: error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert not (tmp_path / "out").exists()
