"""Every number a notebook's prose states — a score to three decimals, a ratio (×), a percentage, milliseconds,
seconds, minutes, a count of images, steps, epochs, seeds or batches — has a source a test can check:

- a cell of the same notebook prints it (the committed outputs: the notebooks are the documentation);
- or it is a value of the committed run `runs/quick/report.json`, named below by its key (a number that merely
  equals some other value of the run does not count);
- or it stands below with where it comes from: the recipe's reference table, a paper, a benchmark run elsewhere.

Numbers inside `code spans` and link targets are code, not prose, and are not read."""
import json
import re
from pathlib import Path

import pytest

from conftest import NOTEBOOKS
from lwm_nb.methods import METHODS
from lwm_nb.report import gap_closed

ROOT = Path(__file__).parents[1]
RUN = json.loads((ROOT / "runs" / "quick" / "report.json").read_text())

# a number, and what makes it a quantity: a unit, a counted noun, or three decimals (a score)
NUMBER = re.compile(r"(?<![\w.,/#-])(?P<sign>[+−-]?)(?P<n>\d[\d,]*(?:\.\d+)?)"
                    r"(?:\s?(?P<unit>×(?!\s?\d)|%|ms|s|min)(?!\w)|\s(?P<noun>images|steps|epochs|seeds|batches)\b)"
                    r"|(?<![\w.,/#-])(?P<ssign>[+−-]?)(?P<score>\d\.\d{3})(?!\d)")


# a run value the prose quotes is named where it stands, by an HTML comment after it (invisible on GitHub):
# `**0.965 ± 0.006**<!-- run: methods.kd_decreasing_t.f1, methods.kd_decreasing_t.f1_std -->` names the two numbers before it.
# A key is a path into report.json; `effects.A-B.field` is the effect of A against B; `gap_closed` is the share of the
# teacher-student gap that KD closed, in %; `//60` and `%60` after a key give minutes and the seconds left.
RUN_KEYS = re.compile(r"<!--\s*run:\s*(?P<keys>.*?)\s*-->", re.S)


def run_value(key: str) -> float:
    if key == "gap_closed": return 100 * gap_closed(RUN["methods"])
    key, op = re.fullmatch(r"(.*?)((?://|%)60)?", key).groups()
    value = RUN
    for part in key.split("."):
        if isinstance(value, list): value = next(e for e in value if f"{e['a']}-{e['b']}" == part)
        else: value = value[part]
    return {None: value, "//60": value // 60, "%60": value % 60}[op]


# numbers measured or stated outside the notebook and the committed run, each with its source
ELSEWHERE = {
    "12_export.ipynb": {"50 %": "the pipeline's pruning shares: METHODS['pruned_50'] in 13_methods"},
    "14a_pruning_report.ipynb": {"6.04 ms": "runs/quick as committed at 513280b: the 60 %-pruned ONNX fp32 file at batch 1",
                                 "1.25 ms": "the same run: the dense ONNX fp32 file"},
    "11_prune.ipynb": {"0.21×": "runs/quick as committed at 513280b: the 60 %-pruned ONNX fp32 file's latency speed-up over the dense one"},
    "06a_timing.ipynb": {"1.1×": "FASTER, set in a cell of the notebook"},
    "index.ipynb": {
        "+0.077": "benchmarks/cpu_paths.py: the committed settings on PyTorch's portable (default) kernels (docs/results.md)",
        "0.005": "the same run",
        "200 images": "the `quick` profile's 20 labelled images a digit",
        "15 epochs": "the recipe's teacher (its table)", "2 epochs": "the recipe's teacher LR step (its table)", "30 epochs": "the recipe's student (its table)",
        "50 %": "the recipe's first pruning step", "60 %": "the recipe's second pruning step",
    },
    "05_temperature.ipynb": {"1,323 steps": "BIRDS-525's 84,635 training images in batches of 64, the recipe's",
                             "240 epochs": "DKD's CIFAR-100 schedule in mdistiller (Zhao et al.'s code): CFG.DKD.WARMUP = 20 of SOLVER.EPOCHS = 240"},
    "10_train.ipynb": {
        "0.067": "a 59-image folder, validated on BatchNorm's running averages (tests/test_small_folder.py's case)",
        "0.653": "the same folder, statistics re-estimated",
    },
    "14_report.ipynb": {
        "0.975": "the quantile of Student's t that a 95 % interval takes", "4.303": "t(0.975, 2)",
        "95 %": "the confidence interval's level",
        "−0.008": "a made-up effect of the verdict rule's prose, checked by `verdict` in the cell below it",
        "0.011": "the same", "+0.017": "the same",
    },
    "15_profiles.ipynb": {
        "304 steps": "the `quick` profile's teacher_min_steps (300) rounded up to whole epochs of 19 full batches",
        "260 steps": "the committed run before this one: students of 260 steps of 16 images",
        "0.749": "the same run: the student alone", "+0.147": "the same run: KD's gain over it",
        "66 steps": "22 retraining epochs of 3 full batches of 64 labelled images",
        "50 %": "the walkthrough's first pruning step", "60 %": "its second",
    },
    "08_teacher_cache.ipynb": {"84,635 images": "BIRDS-525's training split", "30 epochs": "the recipe's student"},
    "01a_digits.ipynb": {"85,000 images": "BIRDS-525's size, rounded", "270 images": "the split of 1,797 digits 60 / 20 / 20, printed below in other words"},
    "10a_checkpoints.ipynb": {"5 %": "`fit`'s default `checkpoint_overhead`, in its signature"},
}


def reference_numbers() -> set[str]:
    "The recipe's reference table (BIRDS-525 with a GPU), held by the methods registry."
    return {f"{m.reference[0]:.3f}" for m in METHODS.values() if m.reference}


def prose_numbers(text: str):
    "The numbers of a markdown cell as written — (the text that names it, the number alone, its sign, the run key that names it or None)."
    text = re.sub(r"`[^`]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    found, named = [], 0
    for m in re.finditer(rf"{RUN_KEYS.pattern}|{NUMBER.pattern}", text, flags=re.S):
        if m["keys"] is not None:
            keys = [k.strip() for k in m["keys"].split(",")]
            assert len(found) - named >= len(keys), f"{m.group(0)} names more numbers than stand before it"
            for k, key in enumerate(keys): found[len(found) - len(keys) + k][3] = key
            named = len(found)
        elif m["score"]: found.append([m["ssign"] + m["score"], m["score"], m["ssign"], None])
        else: found.append([m.group(0), m["n"], m["sign"], None])
    return [tuple(f) for f in found]


def agrees(number: str, sign: str, value) -> bool:
    "Whether a run's value, written as the prose writes it (same decimals; signed only where the prose gives a sign), is the number."
    decimals = len(number.split(".")[1]) if "." in number else 0
    shown = f"{float(value):+,.{decimals}f}".replace("-", "−") if sign else f"{abs(float(value)):,.{decimals}f}"
    return shown == (sign.replace("-", "−") + number if sign else number)


def unsourced(name: str, cells: list[dict]) -> list[str]:
    "The numbers of a notebook's prose that no cell prints, no run key names and no source below explains; and named ones the run contradicts."
    printed = json.dumps([c.get("outputs", []) for c in cells if c["cell_type"] == "code"], ensure_ascii=False)
    elsewhere, references = ELSEWHERE.get(name, {}), reference_numbers()
    found = []
    for cell in cells:
        if cell["cell_type"] != "markdown": continue
        for written, number, sign, key in prose_numbers("".join(cell["source"])):
            if key is not None:
                if not agrees(number, sign, run_value(key)): found.append(f"{written} (the run's {key}: {run_value(key):.4g})")
            elif not (re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", printed) or written in elsewhere or number in references):
                found.append(written)
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_in_the_prose_has_a_source(notebook):
    missing = unsourced(notebook.name, json.loads(notebook.read_text())["cells"])
    assert missing == [], f"{notebook.name}: {missing} are printed by no cell, named from no key of runs/quick/report.json and have no source here"


def test_one_digit_changed_in_the_prose_is_caught():
    path = ROOT / "nbs" / "index.ipynb"
    cells = json.loads(path.read_text())["cells"]
    headline = next(c for c in cells if c["cell_type"] == "markdown" and "**0.965 ± 0.006**<!-- run:" in "".join(c["source"]))
    text = "".join(headline["source"])
    assert unsourced(path.name, cells) == []
    headline["source"] = text.replace("0.965", "0.964", 1)
    assert unsourced(path.name, cells) == ["0.964 (the run's methods.kd_decreasing_t.f1: 0.9646)"]
    headline["source"] = text.replace("<!-- run:", "<!-- ", 1)   # a number whose key is taken away is a number without a source
    assert len(unsourced(path.name, cells)) >= 1


def test_every_source_named_here_is_quoted_by_its_notebook():
    "A source left behind when the prose changed would hide nothing, but says the prose quotes what it no longer does."
    for name, sources in ELSEWHERE.items():
        path = next(p for p in NOTEBOOKS if p.name == name)
        written = {w for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
                   for w, *_ in prose_numbers("".join(c["source"]))}
        assert sorted(set(sources) - written) == [], name
