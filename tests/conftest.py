import json
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")


def report_without_timings(out: Path) -> dict:
    "A run's report.json without what wall-clock measurements decide: two runs of the same settings must agree on the rest."
    report = json.loads((Path(out) / "report.json").read_text())
    for timed in ("speed_and_size", "deploy_speed", "cpu"): report.pop(timed)  # the CPU record holds the thread count
    if "pruning" in report:
        for key in ("threads", "cpu"): report["pruning"].pop(key)
        for row in report["pruning"]["rows"].values():
            for key in [k for k in row if k.endswith(("_ms", "_speedup"))]: row.pop(key)
    return report
