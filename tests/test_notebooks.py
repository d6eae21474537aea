"""Every notebook's tests, as `nbdev-test` runs them (cells flagged with the project's `tst_flags` skipped, `IN_TEST` set): here as one test a notebook, so that CI runs them in one pool with the other tests (`pytest -n 2`).

`nbdev-test` runs the notebooks of a process one after another in that process, as a learner's kernel runs the cells they
open next: a notebook that leaves the process changed (an environment variable, logging, torch's threads, a process
started and left running) changes what the next one sees. Each test also checks that its notebook left the process as it found it."""
import importlib
import logging
import multiprocessing
import os
import pkgutil
import signal
import threading

import matplotlib
import pytest
import torch
import lwm_nb
from nbdev.config import get_config
from nbdev import test as nbdev_test   # a module: its test_nb imported here would be collected as a test

from conftest import NOTEBOOKS

CONFIG = get_config()


def process_state() -> dict:
    "What one notebook could change for the next in the same process."
    def logger(name):
        log = logging.getLogger(name)
        return log.level, log.propagate, [type(h).__name__ for h in log.handlers]
    forkserver = getattr(getattr(multiprocessing, "forkserver", None), "_forkserver", None)
    return {
        "environment": dict(os.environ), "cwd": os.getcwd(),
        "logging": {name: logger(name) for name in ("", "lwm_nb")},
        "torch": (torch.get_num_threads(), torch.get_default_dtype(), torch.are_deterministic_algorithms_enabled(),
                  torch.backends.cudnn.benchmark),
        "processes": (multiprocessing.get_start_method(), sorted(p.name for p in multiprocessing.active_children()),
                      getattr(forkserver, "_forkserver_pid", None)),
        "threads": sorted(t.name for t in threading.enumerate() if not t.daemon),
        "signals": (signal.getsignal(signal.SIGTERM),),
        # the test harness (execnb's shell) turns matplotlib's interactive mode on, as a kernel does: not the notebook's doing
        "matplotlib": {k: str(v) for k, v in matplotlib.rcParams.items() if k not in ("backend", "interactive")},
    }


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_every_cell_of_the_notebook_runs_and_its_checks_pass(notebook):
    # what importing a library does once (scikit-learn sets two KMP_* variables) is not a notebook's doing
    for module in ["sklearn", *(f"lwm_nb.{m.name}" for m in pkgutil.iter_modules(lwm_nb.__path__) if m.name != "__main__")]:
        importlib.import_module(module)
    before = process_state()
    passed, _ = nbdev_test.test_nb(notebook, skip_flags=CONFIG.tst_flags, basepath=CONFIG.config_path)
    assert passed, f"{notebook.name} failed: its traceback is above, on standard error"
    after = process_state()
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    if "environment" in changed:
        env_before, env_after = changed["environment"]
        changed["environment"] = {k: (env_before.get(k), env_after.get(k)) for k in env_before.keys() | env_after.keys()
                                  if env_before.get(k) != env_after.get(k)}
    if "matplotlib" in changed:
        rc_before, rc_after = changed["matplotlib"]
        changed["matplotlib"] = {k: (rc_before[k], rc_after[k]) for k in rc_before if rc_before[k] != rc_after[k]}
    assert changed == {}, f"{notebook.name} left the process changed for the next notebook: {changed}"
