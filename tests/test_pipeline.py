"`lwm run` end to end on a user's small folder (BIRDS layout, 5 classes, 59 training images) with a folder of images without labels: the report's layout, training sized by steps, the same numbers on one core as two steps at a time, resume after SIGKILL, and worker processes that die with their run. (Two seeds and their verdicts, a finished run left alone and other settings refused: `20_pipeline`.)"
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import report_without_timings, stopped_early
from lwm_nb.int8 import can_saturate


def lwm(*args, **kw):
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


# a whole run in about a minute: one seed (verdicts over seeds are 20_pipeline's), two widths, shipping on; the teacher takes at
# least 48 steps (59 images make 3 full batches of 16 an epoch: raised from 6 epochs to 16), each student at least 8 (3 epochs)
FOLDER = {"batch_size": 16, "teacher_epochs": 6, "teacher_min_steps": 48, "student_epochs": 1, "min_steps": 8, "retrain_epochs": 1, "seeds": 1,
          "students_per_class": None, "sweep": [64, 16], "speed_size": 32, "speed_batch": 2, "speed_repeats": 1}


def test_a_users_folder_end_to_end_then_killed_while_shipping_and_resumed_on_one_core_to_the_same_report(small_folder, tmp_path):
    profile = tmp_path / "folder.json"
    profile.write_text(json.dumps(FOLDER))
    loose = tmp_path / "loose" / "any" / "depth"   # images without labels, at any depth, one of them unreadable
    loose.mkdir(parents=True)
    for k, image in enumerate(sorted((small_folder / "test").rglob("*.jpg"))[:12]): shutil.copy(image, loose / f"{k}.jpg")
    (loose / "broken.png").write_bytes(b"not a png")
    arguments = ["--data", small_folder, "--profile", profile, "--unlabelled", tmp_path / "loose"]
    straight = tmp_path / "straight"
    result = lwm("run", *arguments, "--out", straight)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""   # the log is on standard error
    log = result.stderr
    assert "2 step(s) at a time" in log or os.cpu_count() < 2
    assert "lwm: WARNING: Left out 1 file(s) that are not readable images" in log and log.count("broken.png") == 1  # said once, not by every worker
    lines = log.splitlines()   # an estimate of the whole run before its first step, from a step measured on its images
    first_estimate = next(k for k, line in enumerate(lines) if re.search(r"about \d+:\d\d for the 16 step\(s\) left", line))
    assert first_estimate < next(k for k, line in enumerate(lines) if "done, test macro-F1" in line)
    assert "16 epochs × 3 steps = 48 optimizer steps on 59 images (raised from 6 epochs" in log
    assert "3 epochs × 3 steps on 59 labelled images" in log  # students: 8 steps at least
    assert sum("done, test macro-F1" in line for line in log.splitlines()) == 1 + 14 + 1  # one line a step: teacher, 14 a seed (4 shipped), one width
    report = json.loads((straight / "report.json").read_text())
    assert set(report["methods"]) == {"teacher", "student", "kd_labelled", "kd", "kd_decreasing_t", "kd_retrained_50", "kd_retrained",
                                      "pruned_50", "pruned_60", "channels_50", "channels_60"}
    assert report["data"]["transfer"] == 12 and report["data"]["unlabelled"] == str(tmp_path / "loose")
    assert report["trained_on"]["kd_decreasing_t"] == "59 labelled + 12 unlabelled images"
    assert report["trained_on"]["kd_labelled"] == report["trained_on"]["student"] == "59 labelled images"
    assert "12 images without labels" in (straight / "report.md").read_text()
    assert len(json.loads((straight / "results" / "teacher.json").read_text())["history"]) == 16
    check = report["teacher_check"]
    assert check["chance_f1"] == pytest.approx(0.2)
    assert check["teacher_valid_f1"] >= 0.4, check   # 48 steps and settled statistics: clearly above chance
    assert not list(straight.rglob("checkpoint.pt")) and (straight / "teacher" / "model.pt").exists()  # finished steps keep their model only
    for method in report["methods"].values():
        assert {"f1", "f1_std", "params"} <= set(method)
    assert report["methods"]["student"]["seeds"] == 1 and report["methods"]["teacher"]["seeds"] == 1
    assert report["methods"]["pruned_60"]["params"] < report["methods"]["pruned_50"]["params"] < report["methods"]["kd"]["params"]
    assert report["methods"]["channels_60"]["params"] < report["methods"]["channels_50"]["params"] < report["methods"]["kd"]["params"]
    compared = report["pruning"]["rows"]  # channels removed: less work; weights zeroed: the same work
    assert compared["channels_60"]["mult_adds_ratio"] > compared["channels_50"]["mult_adds_ratio"] > 1
    assert compared["pruned_60"]["mult_adds_ratio"] == 1 and compared["channels_60"]["onnx_ms"] == next(
        r["latency_ms"] for r in report["deploy_speed"]["rows"] if (r["method"], r["runtime"]) == ("channels_60", "ONNX Runtime fp32"))
    assert set(report["conv5_sweep"]) == {"64", "16"}
    assert report["profile"] == "folder" and report["data"]["embedded"] is False
    for name in ("report.md", "ablation.png", "effects.png", "learning_curves.png", "confusion.png", "sparsity.png",
                 "speed_and_size.png", "pruning_tradeoff.png", "methods.csv", "effects.csv", "conv5_sweep.csv", "speed_and_size.csv"):
        assert (straight / name).is_file(), name
    assert "## Methods" in (straight / "report.md").read_text()
    assert {"cpu", "torch_isa", "vnni", "threads"} <= set(report["cpu"]) and report["deploy_speed"]["cpu"]["threads"] >= 1
    assert "**What to ship.** On this CPU (" in (straight / "report.md").read_text()
    shipped = sorted(straight.glob("deploy/seed*/*_int8.onnx"))   # read from the files: a CPU with VNNI would hide saturation
    assert len(shipped) == 2 and not any(can_saturate(f) for f in shipped)

    # the folder of a run that stopped after its KD students, resumed two steps at a time and killed while it ships (its
    # process alone, as an out-of-memory killer would: its worker processes must die with it), then resumed on one core, one
    # step at a time in one process, ends with the numbers of the straight run's steps taken two at a time
    resumed = tmp_path / "resumed"
    stopped_early(straight, resumed, later=("pruning", "pruned_", "channel_pruning", "channels_", "kd_retrained", "deploy", "onnx_", "conv5_"))
    two_steps = ["lwm", "run", *map(str, arguments), "--out", str(resumed)]
    proc = subprocess.Popen(two_steps, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (resumed / "deploy/seed0/kd_decreasing_t.onnx").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    workers = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(workers) >= 2 or os.cpu_count() < 2, "two steps at a time need worker processes"
    deadline = time.time() + 60
    while living(workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not living(workers), "worker processes outlived their run"
    one_core = ["taskset", "-c", "0", *two_steps]
    result = subprocess.run(one_core, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 step(s) at a time with 1 thread(s) each" in result.stderr
    assert report_without_timings(resumed) == report_without_timings(straight)


def process_states() -> dict[int, tuple[str, int]]:
    "State and parent of every process, read from /proc."
    states = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try: fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError: continue  # gone while reading
        states[int(stat.parent.name)] = fields[0], int(fields[1])
    return states


def descendants(pid: int) -> set[int]:
    "Every process started under `pid`."
    parents = {child: parent for child, (_, parent) in process_states().items()}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def living(pids: set[int]) -> set[int]:
    return {pid for pid, (state, _) in process_states().items() if pid in pids and state not in "ZX"}
