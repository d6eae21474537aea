"The committed walkthrough run (`runs/quick`) is what the code makes today: the settings `lwm run` writes for `quick`, a report.md that renders from its report.json unchanged, and students compared at their plateau."
import json
from dataclasses import asdict
from pathlib import Path

from lwm_nb.profiles import PROFILES
from lwm_nb.report_page import render_markdown
from lwm_nb.report import still_learning

RUN = Path(__file__).resolve().parents[1] / "runs" / "quick"


def committed() -> dict:
    return json.loads((RUN / "report.json").read_text())


def test_the_committed_run_has_exactly_the_quick_profiles_settings():
    assert committed()["settings"] == json.loads(json.dumps(asdict(PROFILES["quick"]))), \
        "runs/quick was made with other settings than quick's: run `lwm run --out runs/quick` again (see docs/development.md)"


def test_report_md_renders_from_report_json_unchanged():
    assert render_markdown(committed()) == (RUN / "report.md").read_text()


def test_every_method_of_the_committed_run_had_finished_learning():
    report = committed()
    assert all(m["plateau"] is not None for k, m in report["methods"].items() if k != "teacher" or "teacher_given" not in report)
    assert still_learning(report) == {}
