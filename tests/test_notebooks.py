"""Every notebook runs top to bottom in a real Jupyter kernel, as a learner's JupyterLab runs it, with its tests on the
small settings (`IN_TEST` set, cells flagged with the project's `tst_flags` or `#| eval: false` left out, as `nbdev-test`
leaves them out): one test a notebook, in one pool with the other tests (`pytest -n 2`).

`nbdev-test` runs a folder's notebooks one after another in one process, so a notebook that leaves the process changed (an
environment variable, logging, torch's threads, a process left running) changes what the next one sees. The kernel
takes the process's state before the first cell and after the last (`notebook_state.py`): they must agree."""
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbdev.config import get_config

from conftest import NOTEBOOKS

CONFIG = get_config()
TESTS = Path(__file__).resolve().parent
DIRECTIVE = re.compile(r"^#\|\s*([\w-]+)(?::\s*(\S+))?", re.M)


def skipped_by_nbdev_test(source: str) -> bool:
    "A cell `nbdev-test` leaves out: a flag of `tst_flags` (`#| slow`), or `#| eval: false`."
    head = "\n".join(line for line in source.splitlines() if line.startswith("#|"))   # nbdev reads directives at a cell's top
    directives = dict(DIRECTIVE.findall(head))
    return bool(set(CONFIG.tst_flags) & directives.keys()) or directives.get("eval", "").lower() == "false"


BEFORE = f"""import sys; sys.path.insert(0, {str(TESTS)!r})
import notebook_state; notebook_state.import_once()
_state_before_the_notebook = notebook_state.process_state()"""
AFTER = """_changed = notebook_state.changes(_state_before_the_notebook, notebook_state.process_state())
assert not _changed, f"the notebook leaves the process changed for the next notebook nbdev-test runs in it: {_changed}\""""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_every_cell_of_the_notebook_runs_and_its_checks_pass(notebook, monkeypatch):
    monkeypatch.setenv("IN_TEST", "1")          # the kernel inherits it: the notebooks' small settings
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and not skipped_by_nbdev_test(c.source)]
    nb.cells = [nbformat.v4.new_code_cell(BEFORE), *cells, nbformat.v4.new_code_cell(AFTER)]
    # a cell that raises stops the run with nbclient's CellExecutionError, which shows the cell and its traceback
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()


def test_the_cells_left_out_are_those_nbdev_test_leaves_out():
    test = skipped_by_nbdev_test
    assert test("#| slow\nfit(...)") and test("#| eval: false\nrun()") and test("#| export\n#| notest\nx = 1")
    assert not test("#| export\ndef f(): pass") and not test("x = 1  #| slow is not a directive here") and not test("#| eval: true\nx")
