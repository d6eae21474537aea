"""Every notebook runs top to bottom in a real Jupyter kernel, as JupyterLab runs it (on the small settings).

CI runs each notebook once, with `nbdev-test`; this second run in a real kernel is marked slow and deselected by
default: `python -m pytest -m slow tests/test_notebooks_kernel.py`. `tools/execute_notebooks.py`, which writes
the committed outputs, runs every notebook in a real kernel at full size too."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_a_kernel(path, monkeypatch):
    monkeypatch.setenv("IN_TEST", "1")          # the kernel inherits it: the notebooks' small settings
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    # a cell that raises stops the run with `CellExecutionError`, which fails the test; every other cell must have run
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    skipped = [c for c in nb.cells if c.cell_type == "code" and "skip-execution" in c.metadata.get("tags", [])]
    ran = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() and c.get("execution_count")]
    assert len(ran) + len(skipped) == sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
