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
# a cell that calls one of these draws a figure: the project's plot_*/show_* helpers, a lesson's *_picture, pandas' and History's .plot
DRAWS = re.compile(r"\b(plot_\w+|show_\w+|\w+_picture|plt\.subplots)\(|\.plot(\.\w+)?\(")
SLIDER = re.compile(r"\binteract\(")
PICTURE = re.compile(r"\b(\w+_picture)\(")


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


def draws_a_figure(cell): return any("image/png" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.parametrize("path", NBS, ids=lambda p: p.name)
def test_every_cell_that_draws_keeps_its_figure(path):
    # a slider draws in a live kernel only: its static figure is checked below, not its widget view
    missing = [first_line(c) for c in example_cells(path) if DRAWS.search(c.source) and not SLIDER.search(c.source) and not draws_a_figure(c)]
    assert missing == [], f"figures missing: run `python tools/execute_notebooks.py {path.relative_to(ROOT)}`"


@pytest.mark.parametrize("path", NBS, ids=lambda p: p.name)
def test_every_slider_has_a_static_figure_drawn_by_the_function_it_moves(path):
    "On GitHub a slider is a dead widget: the reader sees the figure of a cell before it that calls the same named function."
    cells = example_cells(path)
    for k, cell in enumerate(cells):
        if not SLIDER.search(cell.source): continue
        pictures = PICTURE.findall(cell.source)
        assert pictures, f"{path.name}: the slider of `{first_line(cell)}` moves no named *_picture function"
        for name in pictures:
            static = [c for c in cells[:k] if re.search(rf"^(?!def ).*\b{name}\(", c.source, re.M) and draws_a_figure(c)]
            assert static, f"{path.name}: no cell before the slider draws `{name}(...)` as a static figure"


def test_a_slider_whose_static_figure_is_lost_fails(tmp_path):
    nb = nbformat.read(ROOT / "nbs" / "04_distill.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "kd_picture(" in cell.source and not SLIDER.search(cell.source):
            cell.outputs = [o for o in cell.outputs if "image/png" not in o.get("data", {})]
    nbformat.write(nb, tmp_path / "04_distill.ipynb")
    with pytest.raises(AssertionError, match="kd_picture"):
        test_every_slider_has_a_static_figure_drawn_by_the_function_it_moves(tmp_path / "04_distill.ipynb")
