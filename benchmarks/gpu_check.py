"""Check the recipe's GPU path end to end on a small BIRDS-like folder it generates, then measure training speed.

    python benchmarks/gpu_check.py [--device auto] [--size 224] [--classes 20] [--per-class 100] [--out DIR]

What it does, in order (under five minutes on one GPU; on CPU use `--size 32`, as CI does):

1. writes a BIRDS-525-like folder (train/ valid/ test/ <CLASS NAME>/*.jpg, 224 × 224 JPEGs and a few of
   other sizes, birds.csv) and loads it twice: the second `load_splits` reads what the first checked;
2. trains the teacher for one epoch and the student with KD for one epoch, both with AMP and
   channels_last on CUDA (as `fit` does there), then resumes the student for a second epoch from its
   checkpoint and compares that with an uninterrupted two-epoch run;
3. scores the student on the test split, and again after `save_model`/`load_model`;
4. runs `training.py`'s measurements: `fit` against a bare loop, KD step costs, and 224 px throughput
   with the loader's workers, and says whether training is data-bound.

It exits with status 1 when a check of steps 1–3 fails; the speed targets are printed as met or missed.
"""
import argparse
import csv
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))
import training  # noqa: E402  (the measurements beside this script)


def birds_like(root: Path, classes: int = 20, per_class: int = 100, seed: int = 0) -> Path:
    "A folder laid out like BIRDS-525: `per_class` training and 5 + 5 evaluation JPEGs a class, each class a coloured shape on noise."
    rng = np.random.default_rng(seed)
    names = [f"BIRD {c:03d}" + ("  AUKLET" if c == 1 else "") for c in range(classes)]  # BIRDS-525 has double spaces too
    rows = []
    for c, name in enumerate(names):
        colour = tuple(int(v) for v in rng.integers(40, 256, 3))
        for split, n in (("train", per_class), ("valid", 5), ("test", 5)):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(n):
                side = 224 if k % 10 else int(rng.integers(180, 320))  # most are 224², a few are not
                pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8) // 2
                image = Image.fromarray(pixels)
                x, y = (int(v) for v in rng.integers(side // 4, 3 * side // 4, 2))
                r = side // 4
                draw = ImageDraw.Draw(image)
                (draw.ellipse if c % 2 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
                image.save(folder / f"{k:03d}.jpg", quality=90)
                rows.append((float(c), f"{split}/{name}/{k:03d}.jpg", name, split, f"AVIS SPECIES{c}"))
    with open(root / "birds.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class id", "filepaths", "labels", "data set", "scientific name"])
        writer.writerows(rows)
    return root


class InterruptedLoader:
    "`loader`, raising KeyboardInterrupt (as Ctrl-C would) when `fit` starts its epoch `at_epoch` (1-based)."
    def __init__(self, loader, at_epoch: int):
        self.loader, self.at_epoch, self.sampler = loader, at_epoch, self

    def set_epoch(self, epoch: int):
        if epoch + 1 == self.at_epoch: raise KeyboardInterrupt
        self.loader.sampler.set_epoch(epoch)

    def __len__(self): return len(self.loader)

    def __iter__(self): return iter(self.loader)


class Checks:
    "Named pass/fail lines, printed as they come."
    def __init__(self): self.failed = []

    def __call__(self, name: str, ok: bool, detail: str = ""):
        print(f"  [{'ok' if ok else 'FAILED'}] {name}" + (f": {detail}" if detail else ""), flush=True)
        if not ok: self.failed.append(name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, help="image size (default: 224 on CUDA, 32 on CPU)")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=100, help="training images a class")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, help="loader worker processes (default: the recipe's, min(8, cores))")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of fit against the bare loop")
    parser.add_argument("--repeats", type=int, default=20, help="repeats of each timed step")
    parser.add_argument("--out", help="folder for the generated data and runs (default: a temporary folder)")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lwm_gpu_check-"))
    os.environ["LWM_DATA"] = str(out / "lwm_data")  # what load_splits remembers stays with this check

    import torch
    from lwm_nb.data import load_splits, make_loaders
    from lwm_nb.evaluate import evaluate
    from lwm_nb.models import load_model, student, teacher
    from lwm_nb.profiles import PROFILES
    from lwm_nb.train import fit
    from lwm_nb.distributed import resolve_device

    try: device = resolve_device(args.device)
    except RuntimeError as e: parser.error(str(e))
    size = args.size or (224 if device.type == "cuda" else 32)
    workers = PROFILES["recipe"].workers if args.workers is None else args.workers
    started = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"lwm_nb GPU check on {name} (torch {torch.__version__}, {os.cpu_count()} cores), {size} px, "
          f"batch {args.batch}, {workers} loader workers, in {out}")
    check = Checks()

    print("1. data")
    root = birds_like(out / "birds", args.classes, args.per_class)
    first = time.perf_counter(); splits = load_splits(root, size=size); first = time.perf_counter() - first
    second = time.perf_counter(); splits = load_splits(root, size=size); second = time.perf_counter() - second
    images = len(splits.train) + len(splits.valid) + len(splits.test)
    check("every generated image loads", images == args.classes * (args.per_class + 10) and not splits.skipped, f"{images} images")
    check("classes match across splits despite double spaces", len(splits.classes) == args.classes)
    check("scientific names read from birds.csv", len(splits.scientific_names) == args.classes)
    print(f"  load_splits: first {first:.2f} s, second {second:.2f} s ({second / first:.2f} of the first)")
    loaders = make_loaders(splits, args.batch, workers)

    print(f"2. training, one epoch each{' with AMP' if device.type == 'cuda' else ''}")
    torch.manual_seed(0)
    the_teacher = fit(teacher(args.classes), loaders, 1, lr_schedule=training.cyclic(1e-4, 1e-3), out=out / "teacher",
                      device=device, progress=False).model
    teacher_f1 = evaluate(the_teacher, loaders.test)["f1"]
    print(f"  teacher test macro-F1 after one epoch: {teacher_f1:.3f}")
    def fresh_student():
        torch.manual_seed(1)  # the same initial weights for the interrupted and the uninterrupted run
        return student(args.classes)
    interrupted = replace(loaders, train=InterruptedLoader(loaders.train, at_epoch=2))
    try: fit(fresh_student(), interrupted, 2, teacher=the_teacher, out=out / "student", device=device, progress=False)
    except KeyboardInterrupt: pass
    one = torch.load(out / "student" / "checkpoint.pt", weights_only=True)
    resumed = fit(fresh_student(), loaders, 2, teacher=the_teacher, out=out / "student", device=device, progress=False)
    whole = fit(fresh_student(), loaders, 2, teacher=the_teacher, out=out / "student_whole", device=device, progress=False)
    def untimed(record): return {k: v for k, v in record.items() if k != "seconds"}
    check("a run stopped during epoch 2 resumes from epoch 1's checkpoint", one["epoch"] == 1
          and untimed(resumed.history[0]) == untimed(one["history"][0]) and len(resumed.history) == 2)
    gap = abs(resumed.history[-1]["valid_f1"] - whole.history[-1]["valid_f1"])
    loss_gap = abs(resumed.history[-1]["train_loss"] - whole.history[-1]["train_loss"])
    # CPU kernels are deterministic, so a resume is exact there; cuDNN's are not, so a GPU run may differ a little
    exact = device.type == "cpu"
    check("resumed = uninterrupted (epoch 2)", gap == 0 and loss_gap == 0 if exact else gap <= 0.05,
          f"valid macro-F1 differs by {gap:.4f}, training loss by {loss_gap:.2e}")

    print("3. evaluation")
    model = resumed.model.to(device)
    score = evaluate(model, loaders.test)
    reloaded = load_model(out / "student" / "model.pt").to(device)
    again = evaluate(reloaded, loaders.test)
    check("a saved and loaded student scores the same", np.array_equal(score["predictions"], again["predictions"]),
          f"test macro-F1 {score['f1']:.3f} and {again['f1']:.3f}")

    print("4. speed")
    training.print_loop(training.loop_speed(args.rounds, batch=args.batch, device=device, splits=splits))  # on the check's own images
    steps = training.step_costs(525, size, args.batch, args.repeats, device)
    training.print_steps(steps, size, args.batch)
    flow = training.throughput(splits, args.batch, workers, device=device)
    training.print_throughput(flow, size, args.batch, workers)

    print(f"done in {time.perf_counter() - started:.0f} s; " +
          ("all checks passed" if not check.failed else f"FAILED: {', '.join(check.failed)}"))
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
