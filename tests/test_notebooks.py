"""Every notebook runs top to bottom in a real Jupyter kernel, as a learner's JupyterLab runs it, with its tests on the
small settings (`IN_TEST` set, cells flagged with the project's `tst_flags` or `#| eval: false` left out, as `nbdev-test`
leaves them out): one test a notebook, in one pool with the other tests (`pytest -n 2`).

`nbdev-test` runs a folder's notebooks one after another in one process, so a notebook that leaves the process changed (an
environment variable, logging, torch's threads, a process left running) changes what the next one sees. So do these
tests: each test process keeps one kernel for its notebooks (torch and lwm_nb are imported once, not once a notebook),
clears the names a notebook defined before the next one starts (`%reset`: a notebook that forgets an import still fails),
and takes the process's state before the first cell and after the last (`notebook_state.py`): they must agree. A
notebook that fails leaves the kernel to be replaced, so that the next starts clean."""
import os
import re
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
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


def before(notebook: Path) -> str:
    "The first cell: a clean namespace, the notebook's folder as the working directory (JupyterLab's), the state taken."
    return f"""get_ipython().run_line_magic("reset", "-f")
globals().setdefault("__spec__", None)   # %reset takes it, a fresh kernel has it (multiprocessing reads it)
import os, sys; os.chdir({str(notebook.parent)!r})
if {str(TESTS)!r} not in sys.path: sys.path.insert(0, {str(TESTS)!r})
import notebook_state; notebook_state.import_once()
_state_before_the_notebook = notebook_state.process_state()
del os, sys"""
AFTER = """_changed = notebook_state.changes(_state_before_the_notebook, notebook_state.process_state())
assert not _changed, f"the notebook leaves the process changed for the next notebook nbdev-test runs in it: {_changed}\""""


class Kernel:
    "This test process's kernel for the notebooks, started when first asked for and again after one was given up."
    def __init__(self): self.manager = None

    def get(self) -> KernelManager:
        if self.manager is None or not self.manager.is_alive():
            self.manager = KernelManager(kernel_name="python3")
            # the notebooks' small settings and a figure backend without a display, as the kernel's environment
            self.manager.start_kernel(env={**os.environ, "IN_TEST": "1", "MPLBACKEND": "Agg"})
        return self.manager

    def give_up(self):
        if self.manager is not None: self.manager.shutdown_kernel(now=True)
        self.manager = None


@pytest.fixture(scope="session")
def kernel():
    shared = Kernel()
    yield shared
    shared.give_up()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_every_cell_of_the_notebook_runs_and_its_checks_pass(notebook, kernel):
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and not skipped_by_nbdev_test(c.source)]
    nb.cells = [nbformat.v4.new_code_cell(before(notebook)), *cells, nbformat.v4.new_code_cell(AFTER)]
    try:  # a cell that raises stops the run with nbclient's CellExecutionError, which shows the cell and its traceback
        NotebookClient(nb, km=kernel.get(), timeout=600).execute()
    except BaseException:
        kernel.give_up()   # whatever the failed notebook left behind is not the next one's
        raise


def test_the_cells_left_out_are_those_nbdev_test_leaves_out():
    test = skipped_by_nbdev_test
    assert test("#| slow\nfit(...)") and test("#| eval: false\nrun()") and test("#| export\n#| notest\nx = 1")
    assert not test("#| export\ndef f(): pass") and not test("x = 1  #| slow is not a directive here") and not test("#| eval: true\nx")
