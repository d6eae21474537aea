"""The walkthrough's verdicts on other floating-point paths: `lwm run` with PyTorch's CPU kernels forced.

    python benchmarks/cpu_paths.py [--paths native avx2 default] [--out DIR] [--profile quick] [--seeds N] [--data DIR]

Results are deterministic on one machine but not across machines: PyTorch picks its CPU kernels by
instruction set, and `ATEN_CPU_CAPABILITY=default|avx2|avx512` forces one, which is how another
machine computes. This runs the whole pipeline once per path (one after the other, each with the
whole machine), then prints, per path, every method's test macro-F1 and every effect's paired
verdict, and how long the run took. A lesson the walkthrough teaches must hold on every path.
Each path is a full run (about six minutes on 2 cores for `quick`); finished folders are reused. It exits 1 when
a bar of the walkthrough is missed on a path: the student alone at 0.88 or more, every method finished learning
(`14_report`), KD above the student alone on every seed by at least 0.03 and three standard errors, more KD
epochs within a point of KD, and the 50 %-pruned student at most a point below its control.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def run(path: str, out: Path, profile: str, seeds: int | None, data: str | None = None) -> float:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    if path != "native": env["ATEN_CPU_CAPABILITY"] = path
    command = [sys.executable, "-m", "lwm_nb",
               "run", "--out", str(out), "--profile", profile]
    if seeds: command += ["--seeds", str(seeds)]
    if data: command += ["--data", data]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", nargs="+", default=["native", "avx2", "default"])
    parser.add_argument("--out", default="cpu_paths", help="one run folder per path is made below it")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--data", help="an image folder instead of the embedded digits")
    args = parser.parse_args(argv)
    import torch
    from lwm_nb.timing import describe_cpu
    print(f"torch {torch.__version__}; native: {describe_cpu()}; {os.cpu_count()} cores")
    reports, seconds = {}, {}
    for path in args.paths:
        folder = Path(args.out) / path
        seconds[path] = run(path, folder, args.profile, args.seeds, args.data)
        reports[path] = json.loads((folder / "report.json").read_text())
    methods = list(next(iter(reports.values()))["methods"])
    print("\ntest macro-F1 (mean ± std over seeds [per seed])")
    for m in methods:
        cells = []
        for path, r in reports.items():
            v = r["methods"][m]
            cells.append(f"{path}: {v['f1']:.3f} ± {v['f1_std']:.3f} [{', '.join(f'{f:.3f}' for f in v['f1_per_seed'])}]")
        print(f"  {m:16s} " + " | ".join(cells))
    print("\npaired effects: mean difference ± standard error (wins/seeds) -> verdict")
    all_hold = True
    for i, e0 in enumerate(next(iter(reports.values()))["effects"]):
        cells = []
        for path, r in reports.items():
            e = r["effects"][i]
            cells.append(f"{path}: {e['difference']:+.3f} ± {e['se']:.3f} ({e['wins']}/{e['seeds']}) -> {e['verdict']}")
        verdicts = {r["effects"][i]["verdict"] for r in reports.values()}
        print(f"  {e0['effect']}\n    " + "\n    ".join(cells) + ("" if len(verdicts) == 1 else "\n    ** verdicts differ **"))
    from lwm_nb.report import PLATEAU_RISE
    print(f"\nfinished learning? rise of the mean validation macro-F1 over the last quarter of its epochs (below {PLATEAU_RISE:g}: finished)")
    for m in methods:
        cells = []
        for path, r in reports.items():
            p = r["methods"][m].get("plateau")
            cells.append(f"{path}: " + ("no curve" if not p or p["rise"] is None else f"{p['rise']:+.3f}" + ("" if p["rise"] < PLATEAU_RISE else " STILL LEARNING")))
        print(f"  {m:16s} " + " | ".join(cells))
    def effect(report, a, b): return next(e for e in report["effects"] if (e["a"], e["b"]) == (a, b))
    for path, r in reports.items():
        m = r["methods"]
        kd, more, pruned = effect(r, "kd_decreasing_t", "student"), effect(r, "kd_retrained", "kd_decreasing_t"), effect(r, "pruned_50", "kd_retrained_50")
        learning = [k for k, v in m.items() if ((v.get("plateau") or {}).get("rise") or 0) >= PLATEAU_RISE]  # judged by today's rule, whenever the run was made
        bars = {"student alone >= 0.88": m["student"]["f1"] >= 0.88,
                "every method finished learning": not learning,
                "KD above the student alone on every seed, by >= 0.03 and > 3 SE": kd["wins"] == kd["seeds"] and kd["difference"] >= 0.03 and kd["difference"] - 3 * kd["se"] > 0,
                "more KD epochs within a point of KD": -0.01 <= more["difference"] <= 0.01,
                "pruned 50 % against its control >= -0.01": pruned["difference"] >= -0.01}
        all_hold &= all(bars.values())
        print(f"\n{path}: student alone {m['student']['f1']:.3f}; KD (falling T, transfer set) over it {kd['difference']:+.3f} ± {kd['se']:.3f} "
              f"({kd['difference'] / kd['se']:.1f} standard errors, {kd['wins']}/{kd['seeds']} seeds); more KD epochs {more['difference']:+.3f} ± {more['se']:.3f}; "
              f"pruned 50 % against its control {pruned['difference']:+.3f} ± {pruned['se']:.3f} ({pruned['verdict']})"
              + (f"; still learning: {', '.join(learning)}" if learning else ""))
        for bar, ok in bars.items(): print(f"  [{'ok' if ok else 'MISSED'}] {bar}")
    print("\nrun time: " + ", ".join(f"{p} {s / 60:.1f} min" for p, s in seconds.items()))
    sys.exit(0 if all_hold else 1)


if __name__ == "__main__":
    main()
