"Every notebook's tests, as `nbdev-test` runs them (cells flagged with the project's `tst_flags` skipped, `IN_TEST` set): here as one test a notebook, so that CI runs them in one pool with the other tests (`pytest -n 2`)."

import pytest
from nbdev.config import get_config
from nbdev import test as nbdev_test   # a module: its test_nb imported here would be collected as a test

CONFIG = get_config()
from conftest import NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_every_cell_of_the_notebook_runs_and_its_checks_pass(notebook):
    passed, _ = nbdev_test.test_nb(notebook, skip_flags=CONFIG.tst_flags, basepath=CONFIG.config_path)
    assert passed, f"{notebook.name} failed: its traceback is above, on standard error"
