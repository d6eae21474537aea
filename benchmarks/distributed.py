"""Distributed against single-process KD training: the same global batch and seeds, test macro-F1 paired by seed.

    python benchmarks/distributed.py [--nproc 2] [--seeds 3] [--epochs 6] [--batch 64] [--out DIR]

On the embedded digits at 32 px: a teacher is trained once; then, for every seed, a student is distilled
from it by `fit` in one process and by `fit` under `torchrun --nproc-per-node N` (gloo on CPU, NCCL on
GPUs). The global batch is the same, so the processes see the same images in the same batches; what
differs is that BatchNorm normalises each process's slice of the batch, and the order of float sums.
Prints the test macro-F1 of both per seed, and their paired difference (mean ± standard error).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def distil(out: Path, seeds: int, epochs: int, batch: int) -> dict:
    "Distil one student a seed from out/teacher.pt; process 0 writes `{seed: test macro-F1}` to out/<processes>.json."
    import torch
    from lwm_nb.data import load_splits, make_digits, make_loaders
    from lwm_nb.evaluate import evaluate
    from lwm_nb.models import load_model, student
    from lwm_nb.distributed import distributed, init_distributed
    from lwm_nb.train import fit
    init_distributed()  # under torchrun: join the process group before training
    loaders = make_loaders(load_splits(make_digits(), size=32), batch)
    teacher = load_model(out / "teacher.pt")
    scores = {}
    for seed in range(seeds):
        torch.manual_seed(seed)
        result = fit(student(10, verbose=False), loaders, epochs, teacher=teacher, seed=seed, progress=False)
        scores[seed] = evaluate(result.model, loaders.test)["f1"]
    rank, world = distributed()
    if rank == 0: (out / f"{world}.json").write_text(json.dumps(scores))
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64, help="the global batch")
    parser.add_argument("--out", help="folder for the teacher and the scores (default: a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the torchrun side
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="lwm_distributed-"))
    if args.worker:
        distil(out, args.seeds, args.epochs, args.batch)
        return 0
    import torch
    from lwm_nb.data import load_splits, make_digits, make_loaders
    from lwm_nb.models import save_model, teacher
    from lwm_nb.train import fit
    torch.manual_seed(0)
    loaders = make_loaders(load_splits(make_digits(), size=32), args.batch)
    save_model(fit(teacher(10, verbose=False), loaders, 3, progress=False).model, out / "teacher.pt")
    single = distil(out, args.seeds, args.epochs, args.batch)
    # torchrun gives each process one thread; the single-process run had the machine: that changes time, not results
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
                    __file__, "--worker", "--out", str(out), "--seeds", str(args.seeds), "--epochs", str(args.epochs),
                    "--batch", str(args.batch)], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    spread = {int(k): v for k, v in json.loads((out / f"{args.nproc}.json").read_text()).items()}
    print(f"test macro-F1, digits 32 px, global batch {args.batch}, {args.epochs} epochs of KD")
    print(f"  seed  1 process  {args.nproc} processes  difference")
    differences = []
    for seed in range(args.seeds):
        differences.append(spread[seed] - single[seed])
        print(f"  {seed:4d}  {single[seed]:9.3f}  {spread[seed]:11.3f}  {differences[-1]:+10.3f}")
    se = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
    print(f"  distributed − single: {statistics.mean(differences):+.3f} ± {se:.3f} (mean ± standard error), "
          f"largest |difference| {max(map(abs, differences)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
