"README.md is the front page notebook `nbs/index.ipynb`, rendered: the two must not drift apart. The front page is short and its numbers, like those of `docs/results.md`, are the committed run's."
import json
import re
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


def test_links_of_the_front_page_and_the_docs_point_at_files_that_exist():
    pages = {ROOT / "README.md": render_index(), **{page: page.read_text() for page in (ROOT / "docs").glob("*.md")}}
    for page, text in pages.items():
        for target in re.findall(r"\]\((?!https?:|#)([^)#]+)", text):
            assert (page.parent / target).resolve().exists(), f"{page.name}: {target}"


def test_the_front_page_is_short_and_the_learning_path_is_on_its_first_screen():
    prose = re.sub(r"```.*?```|<!--.*?-->", "", render_index(), flags=re.S)   # code and comments are not what a reader reads
    assert len(prose.split()) <= 1200
    assert "## The learning path" in "\n".join(render_index().splitlines()[:40])


def test_the_docs_tables_are_those_of_the_committed_run():
    from lwm_nb.report_page import readme_table
    report = json.loads((ROOT / "runs" / "quick" / "report.json").read_text())
    docs = "\n".join(page.read_text() for page in (ROOT / "docs").glob("*.md"))
    missing = [table.splitlines()[0] for table in readme_table(report).split("\n\n") if table not in docs]
    assert missing == [], \
        f"the tables {missing} of docs/ differ from runs/quick/report.json: paste lwm_nb.report_page.readme_table(report) there"


def test_the_front_pages_number_from_another_kernel_path_is_told_in_full_in_the_docs():
    "The headline's numbers from the committed run are checked key by key (tests/test_prose_numbers.py); the other path's is benchmarks/cpu_paths.py's."
    headline = render_index().split("## One result")[1].split("\n## ")[0]
    other_path = re.search(r"([+-]\d\.\d{3} ± \d\.\d{3}) on\s+PyTorch's portable kernel path", headline).group(1)
    assert other_path in (ROOT / "docs" / "results.md").read_text()


def test_the_learning_path_lists_the_lessons_in_reading_order_and_the_machinery_in_its_folder():
    "The README's two tables and the folders agree: a lesson at the top of nbs/, in the order a reader opens them; the machinery in nbs/machinery/."
    path = render_index().split("## The learning path")[1].split("\n## ")[0]
    lessons_table, machinery_table = path.split("| machinery |")
    linked = lambda table: re.findall(r"\]\((nbs/[\w/]+\.ipynb)\)", table)
    assert linked(lessons_table) == [f"nbs/{p.name}" for p in sorted((ROOT / "nbs").glob("*.ipynb")) if p.name != "index.ipynb"]
    assert linked(machinery_table) == [f"nbs/machinery/{p.name}" for p in sorted((ROOT / "nbs" / "machinery").glob("*.ipynb"))]


if __name__ == "__main__":
    (ROOT / "README.md").write_text(render_index())
    sys.exit(0)
