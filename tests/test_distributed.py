"Training with two processes on CPU (gloo), as a user starts it: `torchrun` around `fit`, and `lwm run --nproc 2`."
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import report_without_timings, stopped_early

FIT_SCRIPT = '''
import hashlib, json, sys, warnings
from pathlib import Path
import torch
from torch import nn
from lwm_nb.data import load_splits, make_loaders
from lwm_nb.distributed import distributed, init_distributed
from lwm_nb.lr_schedules import flat
from lwm_nb.models import clone_model, make_permanent, student, teacher
from lwm_nb.prune import global_prune
from lwm_nb.train import fit
data, out = sys.argv[1], Path(sys.argv[2])
splits = load_splits(data, size=32)

def refusal(train):
    try: train()
    except (RuntimeError, ValueError) as e: return str(e)

# a script that forgot to join the process group, then one whose global batch the processes cannot share: refused
forgot = refusal(lambda: fit(nn.Linear(1, 1), make_loaders(splits, 16), 1, progress=False))
init_distributed()  # a script under torchrun joins the process group itself
odd = refusal(lambda: fit(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), make_loaders(splits, 15), 1, progress=False))
loaders = make_loaders(splits, 16)
rank, world = distributed()
# a pruned student retrained from a teacher (BatchNorm, channels-last, masks, KD): every process must end with the same
# model, and DDP's gradient buckets fit the pruned weights' gradients (no "Grad strides do not match" warning)
torch.manual_seed(0); the_teacher = teacher(10, verbose=False)
torch.manual_seed(1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result = fit(global_prune(student(10, conv5=16, verbose=False), 0.5), loaders, 2, teacher=the_teacher,
                 out=out / "run", progress=False)
strides = [str(w.message).splitlines()[0] for w in caught if "strides" in str(w.message)]
# what the model computes with (a model file keeps a pruned weight's kept entries only)
computes_with = make_permanent(clone_model(result.model)).state_dict()
weights = hashlib.sha256(b"".join(v.cpu().contiguous().numpy().tobytes() for v in computes_with.values())).hexdigest()
if rank == 0: torch.save(computes_with, out / "trained.pt")
(out / f"rank{rank}.json").write_text(json.dumps({"world": world, "weights": weights, "history": list(result.history),
                                                   "forgot": forgot, "odd": odd, "strides": strides}))
# a model without BatchNorm: the processes' halves of each global batch make exactly one process's step
torch.manual_seed(2)
linear = fit(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), loaders, 1, lr_schedule=flat(1e-3), seed=2, progress=False)
if rank == 0: torch.save(linear.model.state_dict(), out / "linear.pt")
'''


def torchrun(*args, nproc=2, **kw):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *map(str, args)],
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, capture_output=True, text=True, timeout=900, **kw)


def lwm(*args, **kw):
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=900, **kw)


@pytest.fixture(scope="module")
def fit_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("scripts") / "fit_two.py"
    path.write_text(FIT_SCRIPT)
    return path


def test_under_torchrun_the_ranks_agree_write_one_set_of_files_train_as_one_process_would_and_refuse_what_they_cannot_do(fit_script, small_digits, tmp_path):
    done = torchrun(fit_script, small_digits, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["strides"] == ranks[1]["strides"] == []
    assert ranks[0]["history"] == ranks[1]["history"] and len(ranks[0]["history"]) == 2
    for rank in ranks:   # in one run: each torchrun start costs two interpreters that import torch
        assert "call lwm_nb.distributed.init_distributed() before fit" in rank["forgot"]
        assert "the global batch of 15 is not divisible by the 2 processes" in rank["odd"]
    # one checkpoint and one model file, written by process 0 alone, holding those weights
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "model.pt"]
    from lwm_nb.models import load_model, make_permanent
    saved, trained = make_permanent(load_model(tmp_path / "run" / "model.pt")).state_dict(), torch.load(tmp_path / "trained.pt")
    assert saved.keys() == trained.keys() and all(torch.equal(saved[k], trained[k]) for k in saved)
    # the same BatchNorm-free model trained in this one process: the same weights, to float rounding
    from torch import nn
    from lwm_nb.data import load_splits, make_loaders
    from lwm_nb.lr_schedules import flat
    from lwm_nb.train import fit
    torch.manual_seed(2)
    alone = fit(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), make_loaders(load_splits(small_digits, size=32), 16), 1,
                lr_schedule=flat(1e-3), seed=2, progress=False)
    together = torch.load(tmp_path / "linear.pt", weights_only=True)
    for name, value in alone.model.state_dict().items():
        assert torch.allclose(value, together[name], atol=1e-5), name


def test_lwm_run_with_two_processes_killed_resumes_to_the_report_of_an_uninterrupted_one(small_digits, tiny_profile, tmp_path):
    # one seed, one width: what two processes change is training (shipping is process 0's, as in one process). The teacher is
    # given as a plain state dict (not trained: random weights do for what this checks) and the student is another family
    from lwm_nb.models import teacher
    torch.manual_seed(0)
    torch.save(teacher(10).state_dict(), tmp_path / "teacher.pt")
    profile = tmp_path / "two.json"
    profile.write_text(json.dumps({**json.loads(tiny_profile.read_text()), "seeds": 1, "sweep": [64], "student_arch": "squeezenet1_1"}))
    arguments = ["--data", small_digits, "--profile", profile, "--teacher", tmp_path / "teacher.pt"]
    straight = tmp_path / "straight"
    done = lwm("run", "--nproc", 2, *arguments, "--out", straight)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "each step trained by 2 processes" in done.stderr
    assert f"teacher: regnet_x_1_6gf from {tmp_path / 'teacher.pt'}, trained elsewhere: not trained here" in done.stderr
    assert "channel pruning: left out" in done.stderr and "the conv5 sweep: left out" in done.stderr
    report = json.loads((straight / "report.json").read_text())
    assert report["methods"]["kd"]["seeds"] == 1 and (straight / "report.md").is_file()
    assert report["teacher_given"] == str(tmp_path / "teacher.pt") and report["methods"]["teacher"]["seeds"] == 1
    assert not any(k.startswith("channels") for k in report["methods"]) and report["conv5_sweep"] == {}
    assert report["methods"]["pruned_60"]["params"] < report["methods"]["kd_decreasing_t"]["params"]
    assert {"onnx_fp32", "onnx_int8"} <= set(report["deploy"])   # SqueezeNet shipped as ONNX fp32 and INT8
    assert "Student: squeezenet1_1" in (straight / "report.md").read_text()
    assert not list(straight.rglob("checkpoint.pt"))  # finished steps drop their checkpoints

    # the folder of a run stopped after its pruned students, killed again while it trains their control, and resumed
    resumed = tmp_path / "resumed"
    stopped_early(straight, resumed, later=("kd_retrained", "student"))
    proc = subprocess.Popen(["lwm", "run", "--nproc", "2", *map(str, arguments), "--out", str(resumed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (resumed / "results" / "kd_retrained_50").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both of its processes, at once
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = lwm("run", "--nproc", 2, *arguments, "--out", resumed)
    assert done.returncode == 0, done.stderr[-3000:]
    assert report_without_timings(resumed) == report_without_timings(straight)


@pytest.mark.parametrize("settings, args, message", [
    ({"batch_size": 15}, [], "batch_size 15 is not divisible by --nproc 2"),
    ({}, ["--device", "cuda"], "no CUDA GPU"),
])
def test_bad_distributed_setups_fail_before_starting_with_one_clear_line(tiny_profile, tmp_path, settings, args, message):
    if "cuda" in args and torch.cuda.is_available(): pytest.skip("this machine has CUDA")
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({**json.loads(tiny_profile.read_text()), **settings}))
    done = lwm("run", "--nproc", 2, "--profile", profile, "--out", tmp_path / "out", *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("lwm: error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert not (tmp_path / "out").exists()
