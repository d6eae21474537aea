"""A user's own image folder on a CPU, timed: `lwm run` end to end at 224 px, and how honest its first estimate is.

    python benchmarks/own_folder.py [--classes 20] [--per-class 30] [--size 224] [--out DIR] [--keep]

It writes a folder in BIRDS-525's layout as a user would bring it — `train/ valid/ test/ <class>/` JPEGs of
`--size` px, class names with spaces, apostrophes, accents and doubled spaces, a `birds.csv` with scientific names,
one unreadable file — and a torchvision cache holding the recipe's two ImageNet checkpoints under their real
names (random weights: the same tensors, so the same time; nothing is downloaded). Then it runs `lwm run` on it
with the profile below (`PROFILE`: the recipe's models and ImageNet weights at `--size` px, sized for a CPU:
one seed, two teacher epochs, four student epochs, the conv5 sweep left to the default width), stamps every log
line with the seconds since the command started, and prints

- the CPU (instruction set, threads) and the folder;
- when the first line with an estimate of the time left came, what it said, and how the run's real length
  compares with it (estimate / actual);
- the run's length, and the same from the step lines (when each step finished).

Images are coloured shapes with noise, one colour and shape a class: what the timing needs (decoding, resizing,
224 px tensors) without a data set to download. The figures are this machine's; the training part grows with the
number of images and epochs (BIRDS-525 has 84,635 training images: a GPU's work), not measured here beyond this folder.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# the recipe's pair and ImageNet weights at 224 px, sized for a CPU: what a practitioner might start with
PROFILE = {"size": 224, "weights": "imagenet", "batch_size": 32, "teacher_epochs": 2, "student_epochs": 4,
           "retrain_epochs": 1, "teacher_lr_schedule": "onecycle", "students_per_class": None, "seeds": 1,
           "sweep": [64], "speed_size": 224, "speed_batch": 16, "speed_repeats": 1, "min_steps": 0,
           "teacher_min_steps": 0, "transfer": False}
NAMES = ["ANNA'S HUMMINGBIRD", "BLACK-THROATED  SPARROW", "GÉANT COUCAL", "D-ARNAUD'S BARBET", "EMU",
         "FAIRY PENGUIN", "CAPE MAY WARBLER", "HOUSE FINCH", "IBERIAN MAGPIE", "JABIRU", "KAKAPO", "LAUGHING GULL",
         "MALLARD DUCK", "NORTHERN CARDINAL", "OCELLATED TURKEY", "PARAKETT  AUKLET", "QUETZAL", "ROSY FACED LOVEBIRD",
         "SNOWY OWL", "TOUCHAN"]


def make_folder(root: Path, classes: int, per_class: int, size: int, seed: int = 0) -> Path:
    "A BIRDS-525-like folder: `per_class` training and a fifth as many valid and test JPEGs a class, birds.csv, one broken file."
    rng = np.random.default_rng(seed)
    names = [NAMES[k % len(NAMES)] + (f" {k // len(NAMES) + 1}" if k >= len(NAMES) else "") for k in range(classes)]
    rows = ["class id,filepaths,labels,data set,scientific name"]
    for k, name in enumerate(names):
        colour = tuple(int(c) for c in rng.integers(40, 255, 3))
        for split, n in (("train", per_class), ("valid", max(2, per_class // 5)), ("test", max(2, per_class // 5))):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                noise = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                image = Image.fromarray(noise // 3 + 80)
                draw, r = ImageDraw.Draw(image), int(rng.integers(size // 6, size // 3))
                x, y = (int(v) for v in rng.integers(r, size - r, 2))
                (draw.ellipse if k % 2 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
                image.save(folder / f"{i + 1:03d}.jpg", quality=90)
                rows.append(f"{k},{split}/{name}/{i + 1:03d}.jpg,{name},{split},Avis {name.title().replace(' ', '')}")
    (root / "train" / names[0] / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "birds.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def fake_imagenet_cache(home: Path):
    "torchvision's cache with the recipe's two checkpoints under their real names, random weights of the right shapes."
    import torch
    from torchvision.models import regnet_x_1_6gf, shufflenet_v2_x0_5
    from lwm_nb.pretrained import imagenet_weights
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    for arch, build in (("regnet_x_1_6gf", regnet_x_1_6gf), ("shufflenet_v2_x0_5", shufflenet_v2_x0_5)):
        torch.save(build().state_dict(), folder / Path(imagenet_weights(arch).url).name)


def clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--per-class", type=int, default=30, help="training images a class")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--out", help="where the folder, the cache and the run go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--profile", help="a JSON file of settings instead of PROFILE")
    args = parser.parse_args(argv)
    from lwm_nb.timing import describe_cpu
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="own_folder_"))
    data = make_folder(work / "birds", args.classes, args.per_class, args.size)
    fake_imagenet_cache(work / "torch")
    profile = json.loads(Path(args.profile).read_text()) if args.profile else {**PROFILE, "size": args.size,
                                                                               "speed_size": args.size}
    (work / "own.json").write_text(json.dumps(profile))
    print(f"CPU: {describe_cpu()}")
    print(f"folder: {args.classes} classes × {args.per_class} training images at {args.size} px "
          f"(+ valid and test), birds.csv, one unreadable file; profile: {json.dumps(profile)}")
    command = [sys.executable, "-m", "lwm_nb", "run", "--data", str(data), "--profile", str(work / "own.json"), "--out", str(work / "run"),
               "--offline"]
    env = {**os.environ, "TORCH_HOME": str(work / "torch")}
    started, lines = time.perf_counter(), []
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env) as run:
        for line in run.stderr:
            lines.append((time.perf_counter() - started, line.rstrip()))
            print(f"  {clock(lines[-1][0]):>6}  {line.rstrip()}", flush=True)
    total = time.perf_counter() - started
    if run.returncode:
        sys.exit(f"lwm run failed with status {run.returncode}")
    estimates = [(at, line) for at, line in lines if re.search(r"about [\d:]+ (left|for the)", line)]
    at, line = estimates[0]
    said = re.search(r"about ((\d+:)?\d+:\d+)", line).group(1)
    seconds = sum(int(part) * 60 ** k for k, part in enumerate(reversed(said.split(":"))))
    print(f"\nfirst estimate {at:.0f} s after the start: about {said} left, then {clock(total - at)} really "
          f"(estimate / actual = {seconds / (total - at):.2f})")
    steps = [at for at, line in lines if re.search(r"\[\s*\d+/\d+\] .* done", line)]
    print(f"the whole run: {clock(total)} (m:ss) on this CPU; its {len(steps)} steps done by {clock(steps[-1])}, "
          f"the report in the {clock(total - steps[-1])} after")
    if not (args.out or args.keep): shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
