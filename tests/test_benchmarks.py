"The training benchmarks and the GPU check run on CPU as a user runs them, at a small size: they finish, their checks pass, and they print every ratio."
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def run(script, *args, tmp_path):
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, args)], capture_output=True, text=True,
                          timeout=900, env={"MPLBACKEND": "Agg", "LWM_DATA": os.environ["LWM_DATA"], "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                            # the test run's thread limit, where it has one (CI runs two test processes on two cores)
                                            **{k: os.environ[k] for k in ("OMP_NUM_THREADS",) if k in os.environ}})


def number(text, label):
    "The number printed after `label` (and spaces or a colon)."
    return float(re.search(re.escape(label) + r"[\s:]+([0-9.]+)", text).group(1))


def test_the_gpu_check_runs_on_cpu_and_passes_its_checks(tmp_path):
    done = run("gpu_check.py", "--device", "cpu", "--size", 32, "--classes", 4, "--per-class", 16, "--batch", 16,
               "--workers", 1, "--rounds", 1, "--repeats", 2, "--out", tmp_path / "check", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "FAILED" not in out and "all checks passed" in out
    assert out.count("[ok]") == 6  # data (3), resume (2), evaluation after save and load (1)
    # the ratios it prints are the ratios of the times it prints (to their rounding), and its verdict follows its numbers
    step = {label: number(out, label) for label in ("CE step", "teacher forward", "KD step", "cached KD step")}
    assert number(out, "KD / (CE + teacher)") == pytest.approx(step["KD step"] / (step["CE step"] + step["teacher forward"]), rel=0.05)
    assert number(out, "cached KD / CE") == pytest.approx(step["cached KD step"] / step["CE step"], rel=0.05)
    flow = {label: number(out, label) for label in ("loader", "student KD")}
    assert re.search(r"verdict: " + ("data-bound" if flow["loader"] < flow["student KD"] else "not data-bound"), out)
    # what load_splits remembers stays in the check's own folder, not in the user's data home
    assert list((tmp_path / "check" / "lwm_data" / "checked").glob("*.json"))


def test_the_structured_pruning_benchmark_prints_every_ratio(tmp_path):
    done = run("structured_pruning.py", "--classes", 10, "--size", 32, "--amounts", 0.5, 0.75, "--repeats", 2, "--no-exact",
               tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = re.findall(r"amount (0\.5|0\.75): mult-adds ([0-9.]+)x .*eager latency ([0-9.]+)x .*ONNX Runtime latency ([0-9.]+)x", done.stdout)
    assert [v[0] for v in verdicts] == ["0.5", "0.75"]
    assert all(float(mult_adds) > 1 for _, mult_adds, *_ in verdicts)  # latency is only printed: no wall-clock bar in a test


def test_the_deploy_benchmark_names_the_cpu_times_every_int8_scheme_and_says_what_to_ship(tmp_path):
    done = run("deploy.py", "--classes", 10, "--size", 32, "--repeats", 1, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert "PyTorch kernels" in first and "thread" in first
    for scheme in ("u8s8-7bit", "u8u8", "u8s8"): assert f"ONNX Runtime INT8 {scheme}" in done.stdout
    assert re.search(r"On this CPU \(.*\), INT8 runs at [0-9.]+× the speed of fp32 .*: ship ", done.stdout)


def test_the_step_cost_benchmark_prints_every_step_kind_against_its_floor_and_where_the_minutes_go(tmp_path):
    done = run("step_cost.py", "--repeats", 2, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "thread" in out.splitlines()[0]
    kinds = ("student, cross-entropy", "student, KD, teacher live", "student, KD, cached teacher",
             "student, KD labelled only, cached", "teacher, cross-entropy")
    totals = {}
    for kind in kinds:
        row = re.search(r"^\s+" + re.escape(kind) + r"\s+(.+)$", out, re.MULTILINE)
        assert row, f"no row for {kind!r}:\n{out}"
        data, teacher_part, forward, backward, optimizer, total, floor, ratio = row.group(1).split()
        assert (teacher_part == "-") == (kind in ("student, cross-entropy", "teacher, cross-entropy"))
        parts = [float(v) for v in (data, forward, backward, optimizer)] + ([] if teacher_part == "-" else [float(teacher_part)])
        # a step's total is the sum of its parts, and its ratio is its total over its floor's (to their rounding)
        assert float(total) == pytest.approx(sum(parts), abs=0.03)
        assert float(ratio) == pytest.approx(float(total) / float(floor), rel=0.05)
        totals[kind] = float(total)
    minutes = out[out.index("where each minute"):]
    rows = re.findall(r"^\s+(.+?)\s+(\d+) steps ×\s+([0-9.]+) ms =\s+([0-9.]+) CPU-s", minutes, re.MULTILINE)
    assert len(rows) >= 9 and {float(ms) for *_, ms, _ in rows} <= set(totals.values())
    for _, steps, ms, seconds in rows: assert float(seconds) == pytest.approx(int(steps) * float(ms) / 1000, rel=0.01, abs=0.06)
    total = number(minutes, "total")
    assert sum(float(seconds) for *_, seconds in rows) == pytest.approx(total, rel=0.01)
    side_by_side = re.search(r"on (\d+) steps? side by side \(parallel_steps\): ([0-9.]+) s", minutes)
    assert float(side_by_side.group(2)) == pytest.approx(total / int(side_by_side.group(1)), abs=0.6)
    assert "training time alone" in minutes and "come on top" in minutes
    assert re.search(r"^most costly: ", out, re.MULTILINE)


def test_the_own_folder_benchmark_times_a_run_on_a_birds_like_folder_and_how_honest_its_first_estimate_is(tmp_path):
    done = run("own_folder.py", "--classes", 3, "--per-class", 8, "--size", 32, "--out", tmp_path / "own", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("CPU: ") and "3 classes × 8 training images at 32 px" in out
    assert out.count("Left out 1 file(s) that are not readable images") == 1 and "ANNA'S HUMMINGBIRD" in out
    first = re.search(r"first estimate (\d+) s after the start: about ([\d:]+) left, then ([\d:]+) really \(estimate / actual = ([0-9.]+)\)", out)
    assert first and float(first.group(4)) > 0, out
    assert re.search(r"the whole run: \d+:\d\d \(m:ss\) on this CPU; its 15 steps done by", out)
    from lwm_nb.models import load_model
    classes = load_model(tmp_path / "own" / "run" / "kd_decreasing_t" / "seed0" / "model.pt", with_meta=True)[1]["classes"]
    assert classes == ["ANNA'S HUMMINGBIRD", "BLACK-THROATED  SPARROW", "GÉANT COUCAL"], classes   # read as written

