"""The committed runs — the walkthrough (`runs/quick`) and its comparison of KD losses (`runs/compare_losses`) — are what
the code makes today: the settings `lwm run` writes for their profiles, a report.md that renders from its report.json
unchanged, and students compared at their plateau."""
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from lwm_nb.profiles import PROFILES
from lwm_nb.report_page import render_markdown
from lwm_nb.report import still_learning

RUNS = Path(__file__).resolve().parents[1] / "runs"
COMMITTED = ("quick", "compare_losses")   # each made by `lwm run --profile NAME --out runs/NAME` (docs/development.md)


def committed(name: str) -> dict:
    return json.loads((RUNS / name / "report.json").read_text())


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_run_has_exactly_its_profiles_settings(name):
    assert committed(name)["settings"] == json.loads(json.dumps(asdict(PROFILES[name]))), \
        f"runs/{name} was made with other settings than {name}'s: make it again (see docs/development.md)"


@pytest.mark.parametrize("name", COMMITTED)
def test_report_md_renders_from_report_json_unchanged(name):
    assert render_markdown(committed(name)) == (RUNS / name / "report.md").read_text()


@pytest.mark.parametrize("name", COMMITTED)
def test_every_method_of_a_committed_run_had_finished_learning(name):
    report = committed(name)
    assert all(m["plateau"] is not None for k, m in report["methods"].items() if k != "teacher" or "teacher_given" not in report)
    assert still_learning(report) == {}


def test_the_comparisons_seeds_shared_with_the_walkthrough_trained_the_same_students():
    """compare_losses is quick with two more losses and more seeds: the teacher and every seed both runs have gave the
    same scores (the same code on the same CPU path), so the two committed runs tell one story."""
    quick, compare = committed("quick")["methods"], committed("compare_losses")["methods"]
    assert compare["teacher"]["f1"] == quick["teacher"]["f1"]
    for key in ("student", "kd_labelled", "kd", "kd_decreasing_t", "kd_retrained", "pruned_60"):
        assert compare[key]["f1_per_seed"][:3] == quick[key]["f1_per_seed"], key
