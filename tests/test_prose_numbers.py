"Every result a notebook's prose quotes (a score to three decimals) is one its own cells print, one of the committed run (`runs/quick`), or one of the recipe's reference numbers; the few measured elsewhere are named below with where they come from."
import json
import re
from pathlib import Path

import pytest

from lwm_nb.methods import METHODS

ROOT = Path(__file__).parents[1]
from conftest import NOTEBOOKS
SCORE = re.compile(r"(?<![\w.,])[+−-]?\d\.\d{3}(?!\d)")

# numbers measured outside the notebook and the committed run, each with its source in the prose beside it
MEASURED_ELSEWHERE = {
    ("10_train.ipynb", "0.067"): "a 59-image folder, validated on BatchNorm's running averages (tests/test_small_folder.py's case)",
    ("10_train.ipynb", "0.653"): "the same folder, statistics re-estimated",
    ("12_export.ipynb", "0.033"): "benchmarks/deploy.py --run on the walkthrough's run committed before the transfer set",
    ("14_report.ipynb", "0.975"): "the quantile of Student's t that a 95 % interval takes",
    ("14_report.ipynb", "4.303"): "t(0.975, 2)",
    ("14_report.ipynb", "0.017"): "a made-up effect of the verdict rule's prose, checked by `verdict` in the cell below it",
    ("15_profiles.ipynb", "0.749"): "the committed run before this one: the student alone after 260 steps of 16 images",
    ("15_profiles.ipynb", "0.147"): "the same run: KD's gain over it",
    ("index.ipynb", "0.077"): "benchmarks/cpu_paths.py: the committed settings on PyTorch's portable (default) kernels",
    ("index.ipynb", "0.005"): "the same run",
    ("index.ipynb", "0.023"): "benchmarks/cpu_paths.py on the AVX-512 path",
}


def spellings(value: float) -> set[str]:
    return {f"{value:.3f}", f"{abs(value):.3f}"}


def committed_numbers() -> set[str]:
    found = set()
    def walk(obj):
        if isinstance(obj, dict): [walk(v) for v in obj.values()]
        elif isinstance(obj, list): [walk(v) for v in obj]
        elif isinstance(obj, float): found.update(spellings(obj))
    walk(json.loads((ROOT / "runs" / "quick" / "report.json").read_text()))
    return found


def reference_numbers() -> set[str]:
    return {f"{m.reference[0]:.3f}" for m in METHODS.values() if m.reference}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_score_in_the_prose_is_printed_by_a_cell_or_comes_from_the_committed_run(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    printed = json.dumps([c.get("outputs", []) for c in cells if c["cell_type"] == "code"])
    known = committed_numbers() | reference_numbers()
    unsourced = []
    for cell in cells:
        if cell["cell_type"] != "markdown": continue
        for match in SCORE.finditer("".join(cell["source"])):
            number = match.group(0).lstrip("+−-")
            if number not in printed and number not in known and (notebook.name, number) not in MEASURED_ELSEWHERE:
                unsourced.append(number)
    assert not unsourced, f"{notebook.name}: {unsourced} appear in the prose but in no output, the committed run or the references"
