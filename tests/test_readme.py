"README.md is the front page notebook `nbs/index.ipynb`, rendered: the two must not drift apart."
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render_index() -> str:
    cells = json.loads((ROOT / "nbs" / "index.ipynb").read_text())["cells"]
    parts = [("".join(c["source"]) if c["cell_type"] == "markdown" else "```python\n" + "".join(c["source"]) + "\n```")
             for c in cells]
    return "\n\n".join(parts)+ "\n"


def test_readme_is_the_rendered_index_notebook():
    assert (ROOT / "README.md").read_text() == render_index(), \
        "README.md is out of step with nbs/index.ipynb: run `python tests/test_readme.py` to rewrite it"


def test_readme_links_point_at_files_that_exist():
    import re
    for target in re.findall(r"\]\(((?:nbs|data|runs)/[^)#]+)\)", render_index()):
        assert (ROOT / target).exists(), target


def test_readme_tables_are_those_of_the_committed_run():
    from lwm_nb.report import readme_table
    report = json.loads((ROOT / "runs" / "quick" / "report.json").read_text())
    missing = [table.splitlines()[0] for table in readme_table(report).split("\n\n") if table not in render_index()]
    assert missing == [], \
        f"the README's tables {missing} differ from runs/quick/report.json: paste lwm_nb.report.readme_table(report) into nbs/index.ipynb"


if __name__ == "__main__":
    (ROOT / "README.md").write_text(render_index())
    sys.exit(0)
