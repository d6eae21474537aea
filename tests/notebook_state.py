"""What one notebook could leave changed for the next one run in the same process — as `nbdev-test` runs a folder's
notebooks one after another in one Python process. `tests/test_notebooks.py` takes it in the notebook's kernel before
the first cell and after the last."""
import importlib
import logging
import multiprocessing
import os
import pkgutil
import signal
import threading


def import_once():
    "What importing a library does once (scikit-learn sets two KMP_* variables) is not a notebook's doing: done before the first look."
    import lwm_nb
    for module in ["sklearn", "matplotlib.pyplot", *(f"lwm_nb.{m.name}" for m in pkgutil.iter_modules(lwm_nb.__path__) if m.name != "__main__")]:
        importlib.import_module(module)


def process_state() -> dict:
    import matplotlib
    import torch

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
        # a kernel turns matplotlib's interactive mode on for inline figures: not the notebook's doing
        "matplotlib": {k: str(v) for k, v in matplotlib.rcParams.items() if k not in ("backend", "interactive")},
    }


def changes(before: dict, after: dict) -> dict:
    "What differs, down to the variable or setting."
    found = {}
    for key in before:
        if before[key] == after[key]: continue
        if isinstance(before[key], dict) and key in ("environment", "matplotlib"):
            found[key] = {k: (before[key].get(k), after[key].get(k)) for k in before[key].keys() | after[key].keys()
                          if before[key].get(k) != after[key].get(k)}
        else: found[key] = (before[key], after[key])
    return found
