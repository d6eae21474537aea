"""What structured (channel) pruning buys at inference: mult-adds and measured latency of the channel-pruned student against the dense one.

    python benchmarks/structured_pruning.py [--amounts 0.25 0.5 0.6 0.75] [--classes 525] [--size 224] [--threads 1] [--repeats 30] [--no-exact]

The recipe's student (ShuffleNetV2 x0.5, conv5 = 64; random weights serve: speed depends on the
shape, and `prune_channels` gives every amount one shape whatever the weights) is pruned with
`prune_channels` at each amount — as it prunes by default, each group keeping a multiple of 8
channels, and (rows marked "exact", unless --no-exact) with `multiple_of=1` — then timed at batch 1 on the CPU with the same number of threads
in PyTorch eager (channels-last, as `forward_seconds` runs it) and in ONNX Runtime fp32 (`export_onnx`,
`load_onnx`). The timings are interleaved — each round times every model once, in turn — and the
median over the rounds is reported, so a slow spell of the machine hits all models alike. It prints,
from this one run, the ratios dense / pruned of mult-adds and of latency per runtime, and for each
amount whether it reaches issue 16's bars (>= 1.5x fewer mult-adds, >= 1.3x lower latency); which
amount is the one to judge is decided by accuracy after retraining, in the pipeline.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def interleaved_latency(models: dict, x: torch.Tensor, repeats: int, warmup: int = 3) -> dict:
    "Median seconds of one forward pass of each model on `x`, timing all models once a round, `repeats` rounds."
    times = {name: [] for name in models}
    with torch.inference_mode():
        for model in models.values():
            for _ in range(warmup): model(x)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amounts", type=float, nargs="+", default=[0.25, 0.5, 0.6, 0.75])
    parser.add_argument("--classes", type=int, default=525)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--no-exact", action="store_true", help="leave out the rows pruned to exact shares (multiple_of=1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import pandas as pd
    from lwm_nb.timing import describe_cpu
    from lwm_nb.export import export_onnx
    from lwm_nb.export import load_onnx
    from lwm_nb.channels import channel_groups
    from lwm_nb.models import count_params, mult_adds, student
    from lwm_nb.prune import prune_channels
    torch.manual_seed(0)
    dense = student(args.classes).eval()
    models = {"dense": dense, **{f"{a:g}": prune_channels(dense, a).eval() for a in args.amounts}}
    if not args.no_exact: models |= {f"{a:g} exact": prune_channels(dense, a, multiple_of=1).eval() for a in args.amounts}
    x = torch.randn(1, 3, args.size, args.size)
    eager = {name: model.to(memory_format=torch.channels_last) for name, model in models.items()}
    with tempfile.TemporaryDirectory() as tmp:
        onnx = {name: load_onnx(export_onnx(model, Path(tmp) / f"model{i}.onnx", args.size), threads=args.threads)[0]
                for i, (name, model) in enumerate(models.items())}
        eager_s = interleaved_latency(eager, x.to(memory_format=torch.channels_last), args.repeats)
        onnx_s = interleaved_latency(onnx, x, args.repeats)
    rows = [{"amount": name, "params": count_params(model), "mult_adds_M": mult_adds(model, args.size) / 1e6,
             "eager_ms": 1e3 * eager_s[name], "onnx_ms": 1e3 * onnx_s[name]} for name, model in models.items()]
    table = pd.DataFrame(rows).set_index("amount")
    first = table.iloc[0]
    table["mult_adds_ratio"] = first.mult_adds_M / table.mult_adds_M
    table["eager_latency_ratio"] = first.eager_ms / table.eager_ms
    table["onnx_latency_ratio"] = first.onnx_ms / table.onnx_ms
    print(f"torch {torch.__version__}; {describe_cpu()}; student with "
          f"{args.classes} classes at {args.size} px, batch 1, median of {args.repeats} interleaved rounds "
          f"(ratios: dense / pruned)\n")
    print(table.to_string(float_format=lambda v: f"{v:,.2f}"), "\n")
    for amount, row in table.iloc[1:].iterrows():
        verdicts = [f"{what} {row[col]:.2f}x ({'meets' if row[col] >= bar else 'misses'} >= {bar:g}x)"
                    for what, col, bar in (("mult-adds", "mult_adds_ratio", 1.5), ("eager latency", "eager_latency_ratio", 1.3),
                                           ("ONNX Runtime latency", "onnx_latency_ratio", 1.3))]
        print(f"amount {amount}: " + "; ".join(verdicts))
    print("\nchannels kept (conv1, stage2, stage3, stage4, conv5): " + "; ".join(
        f"{name} {[channel_groups(m)[g] for g in ('conv1', 'stage2.0', 'stage3.0', 'stage4.0', 'conv5')]}" for name, m in models.items()))


if __name__ == "__main__":
    main()
