"""Re-execute notebooks at full size in a real Jupyter kernel and write their outputs back.

    python tools/execute_notebooks.py [nbs/10_train.ipynb ...]     # default: every notebook in nbs/ and nbs/machinery/

The notebooks are the documentation on GitHub, so they keep their outputs (plots, tables, the
pipeline's report). Each runs as JupyterLab would run it, from its own folder, without `IN_TEST` (so at
full size; the committed walkthrough run `runs/quick` is made by `lwm run --out runs/quick`, not here), then `nbdev-clean`
normalises ids and metadata as CI expects. A notebook that raises is left unchanged.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path):
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.pop("IN_TEST", None)
    started = time.perf_counter()
    try:
        NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_before is not None: os.environ["IN_TEST"] = env_before
    nbformat.write(nb, path)
    print(f"{path.name}: executed in {time.perf_counter() - started:.0f} s", flush=True)


def main():
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "nbs").glob("*.ipynb")) + sorted((ROOT / "nbs").glob("machinery/*.ipynb"))
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures shown in the cells, as in JupyterLab
    for path in paths: execute(path)
    subprocess.run(["nbdev-clean"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
