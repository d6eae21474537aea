"The installed `lwm` command as a script sees it: help and version, the log on standard error, and the exit statuses (2 bad usage, 1 a failure on the way, 130 Ctrl-C, 143 SIGTERM)."
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY


def lwm(*args, **kw):
    return subprocess.run(["lwm", *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lwm: error:")]


def test_help_names_every_command_and_option_and_python_m_is_the_same_command():
    top = lwm("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("run", "export", "predict"))
    run = lwm("run", "--help")
    for option in ("--data", "--unlabelled", "--out", "--profile", "--seeds", "--device", "--nproc", "--debug", "quick", "recipe", "compare_losses", "--kd-loss",
                   "--teacher", "--teacher-arch", "--student-arch"):
        assert option in run.stdout, option
    version = subprocess.run([sys.executable, "-m", "lwm_nb", "--version"], capture_output=True, text=True, timeout=120)
    from lwm_nb import __version__
    assert version.returncode == 0 and version.stdout.strip() == f"lwm_nb {__version__}"


def test_bad_usage_is_one_line_on_stderr_and_status_2_and_debug_adds_the_traceback(tmp_path):
    # the cases are `21_cli`'s (in-process); here, the installed script
    result = lwm("run", "--out", tmp_path / "out", "--profile", "huge")
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert errors(result.stderr) == ["lwm: error: unknown profile 'huge': use quick, recipe, compare_losses, or a .json file of settings."]
    assert not (tmp_path / "out").exists()   # refused before the run folder is claimed
    debug = lwm("run", "--out", tmp_path / "out", "--profile", "huge", "--debug")
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "unknown profile 'huge'" in debug.stderr


def untrained_teacher(folder) -> str:
    """A teacher's model file for the digits at 32 px, given with --teacher: these runs need one to distil from, not a
    good one (a plain state dict would add a line to the log: it does not say its image size)."""
    from lwm_nb.digits import DIGIT_NAMES
    from lwm_nb.models import save_model, teacher
    return str(save_model(teacher(10), folder / "teacher.pt", classes=list(DIGIT_NAMES), input_size=32))


def test_a_loss_that_becomes_nan_fails_the_run_with_status_1_and_one_line(small_digits, tmp_path):
    profile = tmp_path / "diverges.json"   # an absurd learning rate for the students: after one step their loss is not finite
    profile.write_text(json.dumps({"batch_size": 16, "student_lr": [1e30, 1e31], "student_epochs": 2, "seeds": 1, "teacher_epochs": 1, "students_per_class": 5,
                                   "min_steps": 0, "teacher_min_steps": 0, "sweep": [64]}))
    result = lwm("run", "--data", small_digits, "--profile", profile, "--out", tmp_path / "out", "--teacher", untrained_teacher(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(errors(result.stderr)) == 1 and "The training loss became" in errors(result.stderr)[0]
    assert "Try a lower learning rate" in errors(result.stderr)[0] and result.stdout == ""
    log = result.stderr.splitlines()
    assert log[0].startswith("lwm: profile diverges, data ")   # the run's log: on standard error, worker processes' lines too
    assert any(line.startswith("lwm: student/seed0: student conv5=64") for line in log)


@pytest.mark.parametrize("stop, status, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_a_batch_systems_sigterm_stops_the_run_with_one_line_and_it_resumes(
        stop, status, said, small_digits, tmp_path):
    out, teacher, light = tmp_path / "out", untrained_teacher(tmp_path), tmp_path / "light.json"
    light.write_text(json.dumps({**TINY, "seeds": 1, "deploy": False, "sweep": [64]}))   # run twice below
    arguments = ["--data", str(small_digits), "--profile", str(light), "--teacher", teacher]
    # in a session of its own, with Ctrl-C's default action (a shell runs background jobs with it ignored)
    proc = subprocess.Popen(["lwm", "run", *arguments, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (out / "results").exists() and proc.poll() is None and time.time() < deadline:  # the first step has finished
        time.sleep(0.05)
    os.killpg(proc.pid, stop)   # as Ctrl-C in a terminal, or a batch system's stop: to the run and its worker processes
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == status, stderr[-2000:]
    assert errors(stderr) == [f"lwm: error: {said}; run the same command again to resume from {out}"]
    assert stdout == "" and "Traceback" not in stderr and "leaked" not in stderr
    if stop == signal.SIGTERM:  # resumed, it takes up after the steps that had finished (that a resumed run ends where
        # an uninterrupted one does is tests/test_pipeline.py's, after SIGKILL)
        finished = {str(p.relative_to(out / "results").with_suffix("")) for p in (out / "results").rglob("*.json")}
        resumed = lwm("run", *arguments, "--out", out)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        trained = set(re.findall(r"\] (\S+) done, test macro-F1", resumed.stderr))
        assert finished and trained and not finished & trained, (finished, trained)




def test_kd_variants_train_as_kd_with_falling_t_and_are_judged_against_it_and_a_run_under_another_loss_ships(small_digits, tmp_path):
    teacher = untrained_teacher(tmp_path)   # these runs check what is trained and reported, not how well
    compare = tmp_path / "compare.json"
    compare.write_text(json.dumps({**TINY, "deploy": False, "sweep": [64], "kd_variants": ["lskd", "dkd"]}))
    arguments = ["--data", small_digits, "--teacher", teacher]
    result = lwm("run", *arguments, "--profile", compare, "--out", tmp_path / "compare")
    assert result.returncode == 0, result.stderr[-2000:]
    for seed in (0, 1):
        assert f"lwm: lskd/seed{seed}: student conv5=64, 1 epochs × 3 steps on 50 labelled + 70 unlabelled images, LSKD with linear(start=4.0, end=2.0)" in result.stderr
        assert f"lwm: dkd/seed{seed}: student conv5=64, 1 epochs × 3 steps on 50 labelled + 70 unlabelled images, DKD with linear(start=4.0, end=2.0)" in result.stderr
    report = json.loads((tmp_path / "compare" / "report.json").read_text())
    methods = report["methods"]
    assert list(methods)[list(methods).index("kd_decreasing_t"):][:3] == ["kd_decreasing_t", "lskd", "dkd"]
    for key in ("lskd", "dkd"):   # the same seeds, steps and images as KD with falling T
        assert methods[key]["seeds"] == 2 and report["trained_on"][key] == report["trained_on"]["kd_decreasing_t"]
        assert methods[key]["plateau"]["epochs"] == methods["kd_decreasing_t"]["plateau"]["epochs"]
    effects = {(e["a"], e["b"]): e for e in report["effects"]}
    for a in ("lskd", "dkd"):   # paired by seed against KD with falling T and against the student alone, by the one rule
        for b in ("kd_decreasing_t", "student"):
            e = effects[(a, b)]
            assert e["per_seed"] == pytest.approx([x - y for x, y in zip(methods[a]["f1_per_seed"], methods[b]["f1_per_seed"])])
            assert e["verdict"] in ("holds", "within noise", "does not hold")
    page = (tmp_path / "compare" / "report.md").read_text()
    assert "| LSKD, T 4 → 2 " in page and "| DKD above KD (falling T) " in page
    assert "logit-standardised KD (lskd) and decoupled KD (dkd) train exactly as it does" in page

    # a comparison with Hinton's loss needs Hinton's loss: refused in one line before a folder is claimed
    refused = lwm("run", *arguments, "--profile", compare, "--kd-loss", "dkd", "--out", tmp_path / "refused")
    assert refused.returncode == 2 and not (tmp_path / "refused").exists()
    assert errors(refused.stderr) == [f"lwm: error: kd_variants compares other KD losses with Hinton's, but kd_loss is 'dkd': leave "
                                      f"kd_loss at \"kd\" to compare, or kd_variants empty to train with 'dkd' alone (profile compare)."]

    # a user's own run under DKD: every KD step uses it, through pruning and shipping, and the tables say so
    own = tmp_path / "own.json"
    own.write_text(json.dumps({**TINY, "seeds": 1, "sweep": [64]}))
    dkd = lwm("run", *arguments, "--profile", own, "--kd-loss", "dkd", "--out", tmp_path / "dkd")
    assert dkd.returncode == 0, dkd.stderr[-2000:]
    assert "LSKD" not in dkd.stderr and "lwm: kd/seed0: student conv5=64, 1 epochs × 3 steps on 50 labelled + 70 unlabelled images, DKD with constant(T=2.0)" in dkd.stderr
    report = json.loads((tmp_path / "dkd" / "report.json").read_text())
    assert report["settings"]["kd_loss"] == "dkd" and "lskd" not in report["methods"] and "dkd" not in report["methods"]
    assert {"pruned_60", "channels_60", "kd_retrained"} <= set(report["methods"]) and len(list((tmp_path / "dkd").glob("deploy/seed0/*.onnx"))) == 4
    page = (tmp_path / "dkd" / "report.md").read_text()
    assert "decoupled KD (dkd), KD weight 0.9" in page and "| DKD, T 4 → 2 " in page and "| DKD, constant T = 2 " in page and "| KD, T" not in page
