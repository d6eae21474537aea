"""Teacher vs student vs pruned students: speed and size measured in one run.

    python benchmarks/speed_and_size.py [--size 224] [--batch 64] [--repeats 5]

Prints the table of `lwm_nb.evaluate.speed_and_size`, ratios against the teacher. Numbers from
one machine are only comparable within one run; CUDA columns appear where a GPU is present.
"""
import argparse

import pandas as pd

from lwm_nb.timing import speed_and_size
from lwm_nb.models import student, teacher
from lwm_nb.prune import global_prune


def models(n_classes: int) -> dict:
    return {"teacher": teacher(n_classes), "student": student(n_classes),
            "pruned 50 %": global_prune(student(n_classes), 0.5), "pruned 60 %": global_prune(student(n_classes), 0.6)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--classes", type=int, default=525)
    args = parser.parse_args()
    table = speed_and_size(models(args.classes), size=args.size, batch=args.batch, repeats=args.repeats)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.round(3))


if __name__ == "__main__":
    main()
