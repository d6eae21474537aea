"""What shipping the student buys: ONNX Runtime fp32 and INT8 against PyTorch eager, the file sizes, and which INT8 scheme keeps the answers.

    python benchmarks/deploy.py [--classes 525] [--size 224] [--threads 1] [--repeats 10] [--run runs/quick]

The recipe's student (ShuffleNetV2 x0.5, conv5 = 64; random weights serve for speed and size),
dense and pruned to 60 %, is exported to ONNX and quantized to INT8 with ONNX Runtime in every
scheme of `INT8_SCHEMES`, then timed in one run on this machine, with the same number of threads for
both runtimes: latency at batch 1 and throughput at batch 64. It prints the CPU (instruction set,
VNNI, threads) first, then the ratios, whether they reach the bars of issue 13 (INT8 >= 4x PyTorch
eager at batch 1 and >= 3x at batch 64, fp32 ONNX Runtime >= 3x at batch 1, the 60 %-pruned INT8
file gzip-compressed <= 0.2x the dense `save_model` file), and which file to ship on this CPU.
On a GPU machine these are still CPU figures: they are what a small deployment target runs.

With `--run DIR` (a finished `lwm run` folder) it also
- re-quantizes every seed's shipped fp32 students with every scheme and prints each file's test
  macro-F1 and how often it names the fp32 file's class (the bars of issue 22: within 1 point,
  at least 98 %), with whether the file can saturate on a CPU without VNNI;
- runs `predict` with the shipped 60 %-pruned INT8 student of seed 0 and with its PyTorch file on
  every test image, and prints how often they agree (the bar: at least 98 %).
"""
import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=525)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--run", help="a finished lwm run folder: also score every INT8 scheme on its students, and compare "
                                      "its shipped INT8 student's predictions with PyTorch's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from lwm_nb.timing import describe_cpu
    from lwm_nb.int8 import DEFAULT_INT8_SCHEME, INT8_SCHEMES, quantize_int8
    from lwm_nb.timing import deployment_speed
    from lwm_nb.int8 import what_to_ship
    from lwm_nb.export import export_onnx
    from lwm_nb.files import file_bytes
    from lwm_nb.export import load_onnx
    from lwm_nb.models import clone_model, make_permanent, save_model, student
    from lwm_nb.prune import global_prune
    print(f"torch {torch.__version__}; {describe_cpu()}; student with {args.classes} classes at {args.size} px (random weights)\n")
    torch.manual_seed(0)
    dense = student(args.classes).eval()
    pruned = global_prune(clone_model(dense), 0.6).eval()
    calibration = [(torch.randn(32, 3, args.size, args.size), torch.zeros(32, dtype=torch.long)) for _ in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"dense, PyTorch (save_model)": save_model(dense, tmp / "dense.pt"),
                 "dense, ONNX fp32": export_onnx(dense, tmp / "dense.onnx", args.size),
                 "pruned 60 %, ONNX fp32": export_onnx(pruned, tmp / "pruned.onnx", args.size)}
        for scheme in INT8_SCHEMES:
            files[f"dense, ONNX INT8 {scheme}"] = quantize_int8(files["dense, ONNX fp32"], calibration, tmp / f"dense_{scheme}.onnx",
                                                                n_images=128, scheme=scheme)
        files["pruned 60 %, ONNX INT8"] = quantize_int8(files["pruned 60 %, ONNX fp32"], calibration, tmp / "pruned_int8.onnx", n_images=128)
        sizes = pd.DataFrame({name: file_bytes(f) for name, f in files.items()}).T
        sizes["ratio"], sizes["ratio_gzip"] = sizes.bytes / sizes.bytes.iloc[0], sizes.bytes_gzip / sizes.bytes.iloc[0]
        speed = deployment_speed({"PyTorch eager fp32": dense, "PyTorch eager, pruned 60 % (masks applied)": make_permanent(clone_model(pruned)),
                                  "ONNX Runtime fp32": load_onnx(files["dense, ONNX fp32"])[0],
                                  **{f"ONNX Runtime INT8 {s}": load_onnx(files[f"dense, ONNX INT8 {s}"])[0] for s in INT8_SCHEMES},
                                  "ONNX Runtime INT8, pruned 60 %": load_onnx(files["pruned 60 %, ONNX INT8"])[0]},
                                 size=args.size, batch=64, repeats=args.repeats)
    print(sizes.to_string(float_format=lambda v: f"{v:,.3f}"), "\n")
    print(speed.to_string(float_format=lambda v: f"{v:,.2f}"), "\n")
    int8 = f"ONNX Runtime INT8 {DEFAULT_INT8_SCHEME}"
    checks = [(f"INT8 ({DEFAULT_INT8_SCHEME}) vs PyTorch eager, batch 1", speed.loc[int8, "latency_speedup"], 4.0),
              (f"INT8 ({DEFAULT_INT8_SCHEME}) vs PyTorch eager, batch 64", speed.loc[int8, "throughput_speedup"], 3.0),
              ("ONNX Runtime fp32 vs PyTorch eager, batch 1", speed.loc["ONNX Runtime fp32", "latency_speedup"], 3.0)]
    for what, ratio, bar in checks: print(f"{what}: {ratio:.1f}x ({'meets' if ratio >= bar else 'misses'} >= {bar:g}x)")
    ratio = sizes.loc["pruned 60 %, ONNX INT8", "ratio_gzip"]
    print(f"pruned 60 % INT8, gzip, vs the dense save_model file: {ratio:.3f} ({'meets' if ratio <= 0.2 else 'misses'} <= 0.2)")
    smaller = sizes.loc["dense, ONNX fp32", "bytes_gzip"] / sizes.loc[f"dense, ONNX INT8 {DEFAULT_INT8_SCHEME}", "bytes_gzip"]
    print(what_to_ship(speed, "ONNX Runtime fp32", int8, smaller))
    if args.run:
        schemes(Path(args.run))
        agreement(Path(args.run))


def schemes(run: Path):
    "Every seed's shipped fp32 students re-quantized with every INT8 scheme (calibrated as the pipeline calibrates them): test macro-F1 and agreement with the fp32 file."
    import pandas as pd
    from lwm_nb.data import load_splits, make_loaders, per_class_subset
    from lwm_nb.evaluate import evaluate
    from lwm_nb.int8 import INT8_SCHEMES, can_saturate, quantize_int8
    from lwm_nb.export import load_onnx
    from lwm_nb.export import read_metadata
    settings = json.loads((run / "run.json").read_text())
    profile = settings["profile"]
    fp32_files = sorted(f for f in run.glob("deploy/seed*/*.onnx") if not f.stem.endswith("_int8"))
    size = read_metadata(fp32_files[0])["input_size"]
    splits = load_splits(settings["data"], size=size)
    test = make_loaders(splits, 64, seed=0).test
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fp32 in fp32_files:
            seed = int(fp32.parent.name.removeprefix("seed"))
            calibration = per_class_subset(splits.train, profile.get("students_per_class"), seed)
            reference = evaluate(load_onnx(fp32)[0], test)
            for scheme in INT8_SCHEMES:
                int8 = quantize_int8(fp32, calibration, Path(tmp) / f"{scheme}.onnx", scheme=scheme)
                scored = evaluate(load_onnx(int8)[0], test)
                rows.append({"student": fp32.stem, "seed": seed, "scheme": scheme, "fp32 F1": reference["f1"], "INT8 F1": scored["f1"],
                             "F1 change": scored["f1"] - reference["f1"],
                             "same class as fp32": float(np.mean(np.asarray(scored["predictions"]) == np.asarray(reference["predictions"]))),
                             "can saturate": can_saturate(int8)})
    table = pd.DataFrame(rows)
    print(f"\nEvery INT8 scheme on the students of {run} ({len(test.dataset)} test images):\n")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"), "\n")
    summary = table.groupby("scheme").agg(worst_F1_change=("F1 change", "min"), mean_F1_change=("F1 change", "mean"),
                                          least_agreement=("same class as fp32", "min"), can_saturate=("can saturate", "any"))
    summary["meets the bars"] = (summary.worst_F1_change >= -0.01) & (summary.least_agreement >= 0.98)
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"), "\n")


def agreement(run: Path):
    "How often `predict` with the run's shipped INT8 student (seed 0, pruned 60 %) names the class its PyTorch model names, on the test split."
    from lwm_nb.predict import predict
    settings = json.loads((run / "run.json").read_text())
    test = Path(settings["data"]) / "test"
    by_onnx, _ = predict(run / "deploy/seed0/pruned_60_int8.onnx", [test], top=1)
    by_torch, _ = predict(run / "pruning/seed0/pruned_60/model.pt", [test], top=1)
    same = sum(a["top"][0]["class"] == b["top"][0]["class"] for a, b in zip(by_onnx, by_torch)) / len(by_onnx)
    print(f"lwm predict, shipped INT8 (pruned 60 %, seed 0) vs its PyTorch model on {len(by_onnx)} test images of {test}: "
          f"{same:.1%} agree ({'meets' if same >= 0.98 else 'misses'} >= 98 %)")


if __name__ == "__main__":
    main()
