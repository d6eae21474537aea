"""KD's lesson on data where the teacher's soft labels carry more: two-digit numbers, 100 classes.

    python benchmarks/digit_pairs.py [--out DIR] [--paths native avx2] [--seeds 3]

On the embedded digits (ten classes, 20 labelled images a class) the gain of distillation is about
the size of the seed-to-seed noise, and it changes sign on other CPU kernel paths
(`benchmarks/cpu_paths.py`). This asks whether that is the data: it writes, from the same scikit-learn
digits, a folder of two-digit numbers ("37": a 3 beside a 7, 32 × 32 px; 100 classes; 20 training
images a class, 5 validation, 10 test; the digits of validation and test images never appear in
training), then runs `lwm run` on it — the `quick` profile with 5 labelled images a class for the
students — once per CPU kernel path, and prints the paired verdicts per path like `cpu_paths.py`.
Classes that share a digit look alike, and only the teacher's soft labels say which: the setting
of Hinton et al. (2015), where distillation carries most. About ten minutes a path on 2 cores.
"""
import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

import cpu_paths

PER_CLASS = {"train": 20, "valid": 5, "test": 10}


def make_digit_pairs(root: Path, seed: int = 0) -> Path:
    "Write the two-digit data set into `root/{train,valid,test}/<number>/<n>.png` (idempotent); returns `root`."
    if (root / "test").is_dir(): return root
    from sklearn.datasets import load_digits
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.images))
    pools = {"train": order[:1257], "valid": order[1257:1527], "test": order[1527:]}  # the sizes of the embedded splits
    for split, pool in pools.items():
        by_digit = {k: pool[digits.target[pool] == k] for k in range(10)}
        for number in range(100):
            folder = root / split / f"{number:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(PER_CLASS[split]):
                left, right = rng.choice(by_digit[number // 10]), rng.choice(by_digit[number % 10])
                pixels = np.hstack([digits.images[left], digits.images[right]]) * (255 / 16)
                pair = Image.fromarray(pixels.astype(np.uint8)).resize((32, 16), Image.NEAREST)
                canvas = Image.new("L", (32, 32))
                canvas.paste(pair, (0, 8))
                canvas.convert("RGB").save(folder / f"{n}.png")
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="digit_pairs", help="the data folder and one run folder per path go below it")
    parser.add_argument("--paths", nargs="+", default=["native", "avx2"])
    parser.add_argument("--seeds", type=int)
    args = parser.parse_args()
    out = Path(args.out)
    data = make_digit_pairs(out / "data")
    profile = out / "pairs.json"
    profile.write_text(json.dumps({"students_per_class": 5, "sweep": [64]}))
    cpu_paths.main(["--out", str(out / "runs"), "--profile", str(profile), "--data", str(data), "--paths", *args.paths]
                   + (["--seeds", str(args.seeds)] if args.seeds else []))


if __name__ == "__main__":
    main()
