"""What shipping the student buys: ONNX Runtime fp32 and INT8 against PyTorch eager, and the file sizes.

    python benchmarks/deploy.py [--classes 525] [--size 224] [--threads 1] [--repeats 10] [--run runs/quick]

The recipe's student (ShuffleNetV2 x0.5, conv5 = 64; random weights serve for speed and size),
dense and pruned to 60 %, is exported to ONNX and quantized to INT8 with ONNX Runtime, then timed
in one run on this machine, with the same number of threads for both runtimes: latency at batch 1
and throughput at batch 64. It prints the ratios and whether they reach the bars of issue 13:
INT8 >= 4x PyTorch eager at batch 1 and >= 3x at batch 64, fp32 ONNX Runtime >= 3x at batch 1, and
the 60 %-pruned INT8 file, gzip-compressed, <= 0.2x the dense model file that `save_model` writes.
On a GPU machine these are still CPU figures: they are what a small deployment target runs.
With `--run DIR` (a finished `lwm run` folder) it also runs `predict` with the shipped 60 %-pruned
INT8 student of seed 0 and with its PyTorch file on every test image, and prints how often they agree
(the bar: at least 98 %).
"""
import argparse
import tempfile
from pathlib import Path

import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=525)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--run", help="a finished lwm run folder: also compare its shipped INT8 student's predictions with PyTorch's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from lwm_nb.export import deployment_speed, export_onnx, file_sizes, load_onnx, quantize_int8
    from lwm_nb.models import clone_model, make_permanent, save_model, student
    from lwm_nb.prune import global_prune
    torch.manual_seed(0)
    dense = student(args.classes).eval()
    pruned = global_prune(clone_model(dense), 0.6).eval()
    calibration = [(torch.randn(32, 3, args.size, args.size), torch.zeros(32, dtype=torch.long)) for _ in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"dense, PyTorch (save_model)": save_model(dense, tmp / "dense.pt"),
                 "dense, ONNX fp32": export_onnx(dense, tmp / "dense.onnx", args.size),
                 "pruned 60 %, ONNX fp32": export_onnx(pruned, tmp / "pruned.onnx", args.size)}
        files["dense, ONNX INT8"] = quantize_int8(files["dense, ONNX fp32"], calibration, tmp / "dense_int8.onnx", n_images=128)
        files["pruned 60 %, ONNX INT8"] = quantize_int8(files["pruned 60 %, ONNX fp32"], calibration, tmp / "pruned_int8.onnx", n_images=128)
        sizes = file_sizes(files)
        speed = deployment_speed({"PyTorch eager fp32": dense, "PyTorch eager, pruned 60 % (masks applied)": make_permanent(clone_model(pruned)),
                                  "ONNX Runtime fp32": load_onnx(files["dense, ONNX fp32"])[0],
                                  "ONNX Runtime INT8": load_onnx(files["dense, ONNX INT8"])[0],
                                  "ONNX Runtime INT8, pruned 60 %": load_onnx(files["pruned 60 %, ONNX INT8"])[0]},
                                 size=args.size, batch=64, repeats=args.repeats)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {args.threads} thread(s); "
          f"student with {args.classes} classes at {args.size} px (random weights)\n")
    print(sizes.to_string(float_format=lambda v: f"{v:,.3f}"), "\n")
    print(speed.to_string(float_format=lambda v: f"{v:,.2f}"), "\n")
    checks = [("INT8 vs PyTorch eager, batch 1", speed.loc["ONNX Runtime INT8", "latency_speedup"], 4.0),
              ("INT8 vs PyTorch eager, batch 64", speed.loc["ONNX Runtime INT8", "throughput_speedup"], 3.0),
              ("ONNX Runtime fp32 vs PyTorch eager, batch 1", speed.loc["ONNX Runtime fp32", "latency_speedup"], 3.0)]
    for what, ratio, bar in checks: print(f"{what}: {ratio:.1f}x ({'meets' if ratio >= bar else 'misses'} >= {bar:g}x)")
    ratio = sizes.loc["pruned 60 %, ONNX INT8", "ratio_gzip"]
    print(f"pruned 60 % INT8, gzip, vs the dense save_model file: {ratio:.3f} ({'meets' if ratio <= 0.2 else 'misses'} <= 0.2)")
    if args.run: agreement(Path(args.run))


def agreement(run: Path):
    "How often `predict` with the run's shipped INT8 student (seed 0, pruned 60 %) names the class its PyTorch model names, on the test split."
    import json
    from lwm_nb.export import predict
    settings = json.loads((run / "run.json").read_text())
    test = Path(settings["data"]) / "test"
    by_onnx, _ = predict(run / "deploy/seed0/pruned_60_int8.onnx", [test], top=1)
    by_torch, _ = predict(run / "pruning/seed0/pruned_60/model.pt", [test], top=1)
    same = sum(a["top"][0]["class"] == b["top"][0]["class"] for a, b in zip(by_onnx, by_torch)) / len(by_onnx)
    print(f"lwm predict, shipped INT8 (pruned 60 %, seed 0) vs its PyTorch model on {len(by_onnx)} test images of {test}: "
          f"{same:.1%} agree ({'meets' if same >= 0.98 else 'misses'} >= 98 %)")


if __name__ == "__main__":
    main()
