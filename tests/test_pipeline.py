"`lwm run` end to end on a small folder: the report's layout, the same numbers on one core as on two, resume after SIGKILL. (A finished run left alone and other settings refused: `20_pipeline`; a user's own folder with unlabelled images: `test_small_folder`.)"
import json
import os
import signal
import subprocess
import time

from conftest import report_without_timings
from lwm_nb.export import can_saturate


def lwm(*args, **kw):
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def test_killed_run_resumes_to_the_report_of_an_uninterrupted_run(small_digits, tiny_profile, tmp_path):
    straight = tmp_path / "straight"
    result = lwm("run", "--data", small_digits, "--profile", tiny_profile, "--out", straight)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == ""   # the log is on standard error
    report = json.loads((straight / "report.json").read_text())
    assert set(report["methods"]) == {"teacher", "student", "kd_labelled", "kd", "kd_decreasing_t", "kd_retrained_50", "kd_retrained",
                                      "pruned_50", "pruned_60", "channels_50", "channels_60"}
    assert report["trained_on"]["kd_decreasing_t"] == "50 labelled + 70 unlabelled images"   # 5 a class; the rest is the transfer set
    assert report["trained_on"]["kd_labelled"] == report["trained_on"]["student"] == "50 labelled images"
    epochs = {m: len(json.loads((straight / "results" / m / "seed0.json").read_text())["history"])
              for m in ("student", "kd_labelled", "kd_decreasing_t")}
    assert set(epochs.values()) == {1} and report["data"]["student_steps"] == 4   # 50 images in batches of 16: 4 steps, for all
    for method in report["methods"].values():
        assert {"f1", "f1_std", "params"} <= set(method)
    assert report["methods"]["student"]["seeds"] == 2 and report["methods"]["teacher"]["seeds"] == 1
    assert report["methods"]["pruned_60"]["params"] < report["methods"]["pruned_50"]["params"] < report["methods"]["kd"]["params"]
    assert report["methods"]["channels_60"]["params"] < report["methods"]["channels_50"]["params"] < report["methods"]["kd"]["params"]
    compared = report["pruning"]["rows"]  # channels removed: less work; weights zeroed: the same work
    assert compared["channels_60"]["mult_adds_ratio"] > compared["channels_50"]["mult_adds_ratio"] > 1
    assert compared["pruned_60"]["mult_adds_ratio"] == 1 and compared["channels_60"]["onnx_ms"] == next(
        r["latency_ms"] for r in report["deploy_speed"]["rows"] if (r["method"], r["runtime"]) == ("channels_60", "ONNX Runtime fp32"))
    assert set(report["conv5_sweep"]) == {"64", "16"}
    assert report["profile"] == "tiny" and report["data"]["embedded"] is False
    for name in ("report.md", "ablation.png", "effects.png", "learning_curves.png", "confusion.png", "sparsity.png",
                 "speed_and_size.png", "pruning_tradeoff.png", "methods.csv", "effects.csv", "conv5_sweep.csv", "speed_and_size.csv"):
        assert (straight / name).is_file(), name
    assert "## Methods" in (straight / "report.md").read_text()
    assert {"cpu", "torch_isa", "vnni", "threads"} <= set(report["cpu"]) and report["deploy_speed"]["cpu"]["threads"] >= 1
    assert "**What to ship.** On this CPU (" in (straight / "report.md").read_text()
    shipped = sorted(straight.glob("deploy/seed*/*_int8.onnx"))   # read from the files: a CPU with VNNI would hide saturation
    assert len(shipped) == 4 and not any(can_saturate(f) for f in shipped)
    assert "2 step(s) at a time" in result.stderr or os.cpu_count() < 2

    # on one core, one step at a time in one process, killed twice and resumed: the numbers of two steps side by side
    resumed = tmp_path / "resumed"
    one_core = ["taskset", "-c", "0", "lwm", "run", "--data", str(small_digits), "--profile", str(tiny_profile), "--out", str(resumed)]
    for marker in ("teacher/model.pt", "deploy/seed0/kd_decreasing_t.onnx"):   # inside the first students' training; while seed 0 ships
        proc = subprocess.Popen(one_core, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while not (resumed / marker).exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    result = subprocess.run(one_core, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 step(s) at a time with 1 thread(s) each" in result.stderr
    assert report_without_timings(resumed) == report_without_timings(straight)

