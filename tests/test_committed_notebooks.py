"""The committed notebooks are the documentation on GitHub: they keep the outputs of a full-size run.

`python tools/execute_notebooks.py` writes them; these checks fail when a notebook was committed without its
outputs, with an error in them, or with a cell that draws a figure but shows none."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

from conftest import NOTEBOOKS as NBS

ROOT = Path(__file__).resolve().parents[1]
# a cell that calls one of these draws a figure: the project's plot_*/show_* helpers, pandas' and History's .plot
DRAWS = re.compile(r"\b(plot_\w+|show_\w+|plt\.subplots)\(|\.plot(\.\w+)?\(")


def example_cells(path):
    "The code cells a reader sees run: not the exported definitions, not the hidden ones."
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()
            and not re.match(r"#\|\s*(export|hide|default_exp)", c.source)]


def shows_a_value(source: str) -> bool:
    "Whether Jupyter displays the cell's last statement: an expression, not a test call, not silenced with ';'."
    last = ast.parse(source).body[-1]
    is_test = isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and \
        getattr(last.value.func, "id", "").startswith("test_")
    return isinstance(last, ast.Expr) and not is_test and not source.rstrip().endswith(";")


def first_line(cell): return cell.source.strip().splitlines()[0][:80]


@pytest.mark.parametrize("path", NBS, ids=lambda p: p.name)
def test_every_example_cell_kept_its_output_and_none_failed(path):
    cells = example_cells(path)
    assert [first_line(c) for c in cells if any(o.output_type == "error" for o in c.outputs)] == []
    silent = [first_line(c) for c in cells if not c.outputs and shows_a_value(c.source)]
    assert silent == [], f"cells without outputs: run `python tools/execute_notebooks.py {path.relative_to(ROOT)}`"


@pytest.mark.parametrize("path", NBS, ids=lambda p: p.name)
def test_every_cell_that_draws_keeps_its_figure(path):
    # a widget draws in a live kernel only (on GitHub it is the static figure of the cell before it): its view is what it keeps
    drawn = lambda c: any({"image/png", "application/vnd.jupyter.widget-view+json"} & set(o.get("data", {})) for o in c.outputs)
    missing = [first_line(c) for c in example_cells(path) if DRAWS.search(c.source) and not drawn(c)]
    assert missing == [], f"figures missing: run `python tools/execute_notebooks.py {path.relative_to(ROOT)}`"
