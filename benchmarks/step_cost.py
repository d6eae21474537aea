"""What one training step of the `quick` profile costs, part by part, and where each minute of `lwm run` goes.

    python benchmarks/step_cost.py [--repeats 20] [--threads 1] [--device cpu|cuda|auto]

Every figure is a ratio or a share taken in one run on one machine. The steps are the library's own: the
`quick` profile's data (`Run` on the embedded digits, `student_loaders`: MixUp'd labelled batches of 64 and
transfer batches of 64; the teacher's `run.full.train`), its models (`student`, `teacher`), `kd_loss` and
`TeacherCache`, trained as `fit` trains (channels_last, fused Adam, the teacher in eval mode answering the
labelled and the transfer part in two calls; AMP on CUDA). Step kinds:

- student, cross-entropy: 64 labelled images (MixUp'd probability targets), the student alone;
- student, KD, teacher live: 64 labelled + 64 transfer images, the teacher's forward in the step;
- student, KD, cached teacher: the same, the teacher's answers from a `TeacherCache` that has seen the batches;
- student, KD labelled only, cached: the cached KD step without the transfer half (measured, not approximated);
- teacher, cross-entropy: a batch of 64 of `run.full.train`.

Each step is split into data (the next batch from the loaders, concatenated and moved as `fit` does),
teacher (its forward, or the cache's lookup), forward (student forward + loss), backward and optimizer
(zero_grad + step); each part is the median over `--repeats` steps after a warm-up, and a step's total is
the sum of its parts. The floor of a kind is the same step in a bare loop on one fixed batch already in
memory (no loader, no cache: a KD floor with cached answers holds the teacher's logits in memory), timed
the same way; the kinds and their floors are interleaved step by step, so the machine's drift cancels out.

Then the optimizer steps of every part of a `quick` run (from the library: `student_steps`, `epochs_for`,
the seeds) times the measured step totals: CPU-seconds a part, and over `parallel_steps(run)` steps side by
side an estimate of the run's training time alone (validation, export and the report come on top).
About a minute at the defaults on 2 cores.
"""
import argparse
import itertools
import shutil
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from lwm_nb.distill import kd_loss
from lwm_nb.distributed import resolve_device
from lwm_nb.timing import describe_cpu
from lwm_nb.models import student, teacher
from lwm_nb.profiles import PROFILES, epochs_for
from lwm_nb.run_store import Run, student_loaders, student_steps
from lwm_nb.scheduler import parallel_steps
from lwm_nb.teacher_cache import TeacherCache

PARTS = ("data", "teacher", "forward", "backward", "optimizer")
CE, LIVE, CACHED, LABELLED, TEACHER = ("student, cross-entropy", "student, KD, teacher live", "student, KD, cached teacher",
                                       "student, KD labelled only, cached", "teacher, cross-entropy")
KINDS = (CE, LIVE, CACHED, LABELLED, TEACHER)
WARM_UP = 2


def _endless(loader):
    "The loader's batches for as long as they are asked for, each pass in the order of its own epoch (as `fit` draws them)."
    for epoch in itertools.count():
        loader.sampler.set_epoch(epoch)
        yield from loader


def loader_batches(labelled, transfer, device):
    "A function giving the next step's (x, y) from the project's loaders: the labelled batch, with a transfer batch after it where there is one, moved as `fit` moves them."
    batches, extra = _endless(labelled), _endless(transfer) if transfer is not None else None
    def next_batch():
        x, y = next(batches)
        if extra is not None: x = torch.cat([x, next(extra)[0]])
        return (x.to(device, non_blocking=True, memory_format=torch.channels_last), y.to(device, non_blocking=True))
    return next_batch


def fixed_batch(next_batch):
    "One batch of `next_batch`, held in memory and given at every step: the floor's data."
    x, y = next_batch()
    x, y = x.clone().contiguous(memory_format=torch.channels_last), y.clone()
    return lambda: (x, y)


def two_calls(answer):
    "The teacher's logits for a step's x, from the labelled part and the transfer part in two calls (as `lwm_nb.train._loss` asks for them)."
    def logits(x, labelled):
        return torch.cat([answer(x[:labelled]), *([answer(x[labelled:])] if len(x) > labelled else [])])
    return logits


class Step:
    "One kind of training step on `model`, timed part by part: `step()` returns the seconds of each of `PARTS`."
    def __init__(self, model, next_batch, device, teacher_logits=None, temperature=1.0, alpha=0.5):
        self.model = model.to(device, memory_format=torch.channels_last).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True)
        self.scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
        self.next_batch, self.device, self.teacher_logits = next_batch, device, teacher_logits
        self.temperature, self.alpha, self.amp = temperature, alpha, device.type == "cuda"
        self.seconds = {part: [] for part in PARTS}

    def _now(self):
        if self.device.type == "cuda": torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def step(self, keep: bool = True):
        took, last = {}, self._now()
        def lap(part):
            nonlocal last
            now = self._now(); took[part] = took.get(part, 0.0) + now - last; last = now
        x, y = self.next_batch()
        lap("data")
        if self.teacher_logits is not None:
            with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                answers = self.teacher_logits(x, len(y))
        lap("teacher")
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            logits = self.model(x)
        loss = (F.cross_entropy(logits.float(), y) if self.teacher_logits is None
                else kd_loss(logits, answers, y, self.temperature, self.alpha))
        lap("forward")
        self.optimizer.zero_grad(set_to_none=True)
        lap("optimizer")
        self.scaler.scale(loss).backward()
        lap("backward")
        self.scaler.step(self.optimizer); self.scaler.update()
        lap("optimizer")
        if keep:
            for part in PARTS: self.seconds[part].append(took[part])

    def medians(self) -> dict:
        "Milliseconds of each part (median over the kept steps) and the step's total, their sum."
        ms = {part: 1000 * statistics.median(s) for part, s in self.seconds.items()}
        return {**ms, "total": sum(ms.values())}


def build_steps(run, device, steps_each: int):
    "Every kind of step, each with its floor: {kind: (step, floor)}; and the teacher cache the cached kinds read, which has seen their first `steps_each` batches."
    p, n = run.profile, run.n_classes
    torch.manual_seed(0)
    the_teacher = teacher(n).to(device, memory_format=torch.channels_last).eval()
    live = two_calls(the_teacher)
    cache = TeacherCache(the_teacher)
    # the cache sees the batches the cached steps will get (the same seed's loaders, drawn anew): every timed lookup is a hit
    loaders = student_loaders(run, seed=0)
    seen = loader_batches(loaders.train, loaders.transfer, device)
    with torch.no_grad():
        for _ in range(steps_each):
            x, y = seen()
            two_calls(cache)(x, len(y))
    cached = two_calls(cache)

    def students():
        torch.manual_seed(0); return student(n)

    def held_logits(batch):
        "The floor of a cached step: the teacher's logits of its fixed batch, held in memory."
        x, y = batch()
        with torch.no_grad(): logits = live(x, len(y))
        return lambda x, labelled: logits

    kd = dict(alpha=p.alpha)
    steps = {}
    loaders = student_loaders(run, seed=0)
    steps[CE] = (Step(students(), loader_batches(loaders.train, None, device), device),
                 Step(students(), fixed_batch(loader_batches(loaders.train, None, device)), device))
    loaders = student_loaders(run, seed=0)
    floor_batch = fixed_batch(loader_batches(loaders.train, loaders.transfer, device))
    steps[LIVE] = (Step(students(), loader_batches(loaders.train, loaders.transfer, device), device, live, p.constant_temperature, **kd),
                   Step(students(), floor_batch, device, live, p.constant_temperature, **kd))
    loaders = student_loaders(run, seed=0)
    steps[CACHED] = (Step(students(), loader_batches(loaders.train, loaders.transfer, device), device, cached, p.start_temperature, **kd),
                     Step(students(), floor_batch, device, held_logits(floor_batch), p.start_temperature, **kd))
    loaders = student_loaders(run, seed=0)
    labelled_floor = fixed_batch(loader_batches(loaders.train, None, device))
    steps[LABELLED] = (Step(students(), loader_batches(loaders.train, None, device), device, cached, p.start_temperature, **kd),
                       Step(students(), labelled_floor, device, held_logits(labelled_floor), p.start_temperature, **kd))
    torch.manual_seed(0)
    steps[TEACHER] = (Step(teacher(n), loader_batches(run.full.train, None, device), device),
                      Step(teacher(n), fixed_batch(loader_batches(run.full.train, None, device)), device))
    return steps, cache


def measure(run, repeats: int, device) -> tuple[dict, dict]:
    "{kind: milliseconds of each part and total} of the steps and of their floors, interleaved step by step."
    steps, cache = build_steps(run, device, WARM_UP + repeats)
    misses = cache.misses
    for r in range(WARM_UP + repeats):
        for kind in KINDS:
            for s in steps[kind]: s.step(keep=r >= WARM_UP)
    if cache.misses != misses:
        raise RuntimeError(f"the teacher cache missed {cache.misses - misses} batches of the cached steps: their times hold teacher forwards")
    return {kind: s.medians() for kind, (s, _) in steps.items()}, {kind: f.medians() for kind, (_, f) in steps.items()}


def print_steps(ms, floor, repeats):
    print(f"\none training step of the quick profile, ms (median of each part over {repeats} steps; total = their sum)")
    print(f"  {'step kind':34s} {'data':>7s} {'teacher':>8s} {'forward':>8s} {'backward':>9s} {'optimizer':>9s} "
          f"{'total':>8s} {'floor':>8s} {'total / floor':>13s}")
    for kind in KINDS:
        m = ms[kind]
        teacher_cell = f"{m['teacher']:8.2f}" if kind not in (CE, TEACHER) else f"{'-':>8s}"
        print(f"  {kind:34s} {m['data']:7.2f} {teacher_cell} {m['forward']:8.2f} {m['backward']:9.2f} {m['optimizer']:9.2f} "
              f"{m['total']:8.2f} {floor[kind]['total']:8.2f} {m['total'] / floor[kind]['total']:13.2f}")
    print("  floor: the same step on one fixed batch already in memory, no loader, no cache (a cached kind's floor holds the "
          "teacher's logits in memory)")


def run_parts(run) -> list[tuple[str, int, str]]:
    "(part of a quick run, its optimizer steps, the step kind that times it), from the library's step counts."
    p = run.profile
    seeds, steps, retrain = p.seeds, student_steps(run), 2 * student_steps(run, retrain=True)
    teacher_steps = epochs_for(p.teacher_epochs, p.teacher_min_steps, len(run.full.train)) * len(run.full.train)
    return [("teacher (once)", teacher_steps, TEACHER),
            ("student alone", seeds * steps, CE),
            ("KD constant T (teacher live)", seeds * steps, LIVE),
            ("KD falling T (cached)", seeds * steps, CACHED),
            ("KD labelled only (cached)", seeds * steps, LABELLED),
            ("weight pruning, 2 stages", seeds * retrain, CACHED),
            ("channel pruning, 2 stages", seeds * retrain, CACHED),
            ("control, retrained 2 stages", seeds * retrain, CACHED),
            (f"conv5 = {min(p.sweep)} (once, cached)", steps, CACHED)]


def print_minutes(run, ms) -> tuple[str, float]:
    p, parallel = run.profile, parallel_steps(run)
    parts = [(name, n, kind, n * ms[kind]["total"] / 1000) for name, n, kind in run_parts(run)]
    total = sum(s for *_, s in parts)
    print(f"\nwhere each minute of `lwm run` goes ({p.name} profile, {p.seeds} seeds, {student_steps(run)} steps a student run, "
          f"{student_steps(run, retrain=True)} a retraining stage): optimizer steps × the step totals above")
    for name, n, kind, seconds in parts:
        print(f"  {name:32s} {n:6d} steps × {ms[kind]['total']:7.2f} ms = {seconds:8.1f} CPU-s  {100 * seconds / total:5.1f} %")
    print(f"  {'total':32s} {'':32s}{total:8.1f} CPU-s  ({total / 60:.1f} CPU-min)")
    print(f"  on {parallel} step{'s' if parallel != 1 else ''} side by side (parallel_steps): {total / parallel:.0f} s = "
          f"{total / parallel / 60:.1f} min — an estimate of training time alone: validation after each epoch, "
          "export and the report come on top")
    print(f"  (KD labelled only is timed as measured above: the cached KD step without the transfer half; the pruned students "
          f"and the conv5 = {min(p.sweep)} student as the unpruned conv5 = {p.conv5} student's cached KD step)")
    name, _, kind, seconds = max(parts, key=lambda part: part[3])
    return name, kind, seconds / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed steps of each kind (after a warm-up of 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the quick run uses 1 a step)")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    args = parser.parse_args(argv)
    if args.repeats < 1: parser.error("--repeats must be at least 1")
    try: device = resolve_device(args.device)
    except RuntimeError as e: parser.error(str(e))
    torch.set_num_threads(args.threads)
    where = f"{torch.cuda.get_device_name(device)}, host " if device.type == "cuda" else ""
    print(f"torch {torch.__version__} on {where}{describe_cpu()}")  # describe_cpu ends with torch's thread count
    if args.threads != (PROFILES["quick"].threads or args.threads):
        print(f"note: a quick run trains each step on {PROFILES['quick'].threads} thread(s); these steps ran on {args.threads}")
    out = tempfile.mkdtemp(prefix="step_cost_")
    try:
        run = Run(out=out, profile="quick", device=str(device), progress=False)
        ms, floor = measure(run, args.repeats, device)
        print_steps(ms, floor, args.repeats)
        name, kind, share = print_minutes(run, ms)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    part = max((p for p in PARTS if p != "teacher" or kind not in (CE, TEACHER)), key=lambda p: ms[kind][p])
    print(f"\nmost costly: {name}, {100 * share:.0f} % of the training time; its step ({kind}) spends most on {part} "
          f"({ms[kind][part]:.2f} of {ms[kind]['total']:.2f} ms)")


if __name__ == "__main__":
    main()
