"""Training speed: `fit` against a bare PyTorch loop, what a KD step costs, and whether the data loader keeps up.

    python benchmarks/training.py [--part all|loop|steps|throughput] [--size 224] [--batch 64] [--workers N] [--device auto]

Three measurements, each printed as ratios taken in one run on one machine:

- loop: `fit` against a bare loop doing the same work (same model, data, Adam, cyclic LR, channels_last,
  AMP on CUDA, per-epoch validation with macro-F1, keeping the best weights), with cross-entropy and with
  KD, the two interleaved over rounds; speed = bare time / fit time (target ≥ 0.97). On the embedded
  digits at 32 px, batch 64.
- steps: a KD step against a cross-entropy step plus one teacher forward (target ≤ 1.05), and a KD step
  whose teacher logits come from `TeacherCache` against a cross-entropy step (target ≤ 1.1); median
  over repeats of one fixed batch.
- throughput: images a second at `--size` with the recipe's augmentation: the data loader alone (with
  `--workers` processes), training steps of the student with CE and with KD, and of the teacher; the
  verdict "data-bound" when the loader delivers fewer images a second than the KD student consumes.

On CUDA, AMP and channels_last are on (as in `fit`); on CPU use a small `--size` (CI runs `--size 32`).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from lwm_nb.data import load_splits, make_digits, make_loaders
from lwm_nb.distill import kd_loss
from lwm_nb.models import student, teacher
from lwm_nb.temperature import linear
from lwm_nb.teacher_cache import TeacherCache
from lwm_nb.lr_schedules import cyclic
from lwm_nb.train import fit
from lwm_nb.distributed import resolve_device


def _sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def _timed(device, work) -> float:
    _sync(device); started = time.perf_counter()
    work()
    _sync(device)
    return time.perf_counter() - started


def bare_fit(model, loaders, epochs, teacher=None, alpha=0.5, temperature=linear(10, 5),
             lr_schedule=cyclic(1e-3, 1e-2), device=torch.device("cpu")):
    "The loop a PyTorch tutorial writes, doing the work `fit` does (without checkpoints or progress bars)."
    amp = device.type == "cuda"
    model.to(device, memory_format=torch.channels_last)
    if teacher is not None: teacher.to(device, memory_format=torch.channels_last).eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr_schedule.lr, fused=True)
    steps = len(loaders.train)
    scheduler = lr_schedule.build(optimizer, steps, epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    best_f1, best_state = -1.0, None
    for epoch in range(epochs):
        loaders.train.sampler.set_epoch(epoch)
        model.train()
        for i, (x, y) in enumerate(loaders.train):
            x = x.to(device, non_blocking=True, memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                logits = model(x)
                if teacher is not None:
                    with torch.no_grad(): teacher_logits = teacher(x)
            if teacher is None: loss = F.cross_entropy(logits.float(), y)
            else: loss = kd_loss(logits, teacher_logits, y, temperature((epoch * steps + i) / (epochs * steps - 1)), alpha)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer); scaler.update()
            scheduler.step()
        model.eval()
        predictions, targets = [], []
        with torch.no_grad():
            for x, y in loaders.valid:
                predictions.append(model(x.to(device)).argmax(1).cpu()); targets.append(y)
        f1 = f1_score(torch.cat(targets), torch.cat(predictions), average="macro")
        if f1 > best_f1: best_f1, best_state = f1, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return best_f1


def loop_speed(rounds: int = 5, epochs: int = 2, batch: int = 64, device=torch.device("cpu"), splits=None) -> dict:
    "Seconds of `fit` and of `bare_fit` for CE and KD on `splits` (default: the digits at 32 px), interleaved over `rounds`; medians and speed ratios."
    splits = splits or load_splits(make_digits(), size=32)
    loaders = make_loaders(splits, batch)
    n = len(splits.classes)
    torch.manual_seed(0); the_teacher = teacher(n)
    seconds = {}
    for r in range(rounds):
        for kind in ("CE", "KD"):
            kd = the_teacher if kind == "KD" else None
            loops = {"fit": lambda model: fit(model, loaders, epochs, teacher=kd, device=device, progress=False, recalibrate_bn_below=0),
                     "bare": lambda model: bare_fit(model, loaders, epochs, teacher=kd, device=device)}
            first = "bare" if (r + (kind == "KD")) % 2 else "fit"  # who goes first alternates
            for loop in sorted(loops, key=lambda name: name != first):
                torch.manual_seed(r); model = student(n)
                seconds.setdefault((kind, loop), []).append(_timed(device, lambda: loops[loop](model)))
    return {kind: {"fit_s": statistics.median(seconds[kind, "fit"]), "bare_s": statistics.median(seconds[kind, "bare"]),
                   # paired by round: the machine's drift over the run cancels out
                   "speed": statistics.median(b / f for b, f in zip(seconds[kind, "bare"], seconds[kind, "fit"]))}
            for kind in ("CE", "KD")}


def _train_step(model, optimizer, scaler, x, y, device, teacher=None, T=4.0):
    amp = device.type == "cuda"
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
        logits = model(x)
        if teacher is not None:
            with torch.no_grad(): teacher_logits = teacher(x)
    loss = F.cross_entropy(logits.float(), y) if teacher is None else kd_loss(logits, teacher_logits, y, T, 0.5)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer); scaler.update()


def _teacher_forward(the_teacher, x, device):
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
        the_teacher(x)


def _setup(model, device):
    model.to(device, memory_format=torch.channels_last)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=True), torch.amp.GradScaler(device.type, enabled=device.type == "cuda")


def step_costs(n_classes: int = 10, size: int = 32, batch: int = 64, repeats: int = 20, device=torch.device("cpu")) -> dict:
    "Median seconds of a CE step, a teacher forward, a KD step and a cached KD step on one batch, interleaved; and the ratios."
    torch.manual_seed(0)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n_classes, (batch,), device=device)
    model, optimizer, scaler = _setup(student(n_classes), device)
    the_teacher = teacher(n_classes).to(device, memory_format=torch.channels_last).eval()
    cached = TeacherCache(the_teacher)
    cached(x)  # the first call computes the logits; every later one is served from memory
    work = {"CE step": lambda: _train_step(model, optimizer, scaler, x, y, device),
            "teacher forward": lambda: _teacher_forward(the_teacher, x, device),
            "KD step": lambda: _train_step(model, optimizer, scaler, x, y, device, the_teacher),
            "cached KD step": lambda: _train_step(model, optimizer, scaler, x, y, device, cached)}
    for w in work.values(): w(); w()  # warm-up: allocator, cuDNN's algorithm search
    seconds = {name: [] for name in work}
    for _ in range(repeats):
        for name, w in work.items(): seconds[name].append(_timed(device, w))
    med = {name: statistics.median(s) for name, s in seconds.items()}
    return {**med, "KD / (CE + teacher)": med["KD step"] / (med["CE step"] + med["teacher forward"]),
            "cached KD / CE": med["cached KD step"] / med["CE step"]}


def throughput(splits, batch: int = 64, workers: int = 0, steps: int = 10, device=torch.device("cpu")) -> dict:
    "Images a second of the augmented training loader alone, and of training steps of the student (CE, KD) and the teacher."
    n = len(splits.classes)
    loaders = make_loaders(splits, batch, workers)
    size = splits.size
    batches = iter(loaders.train)
    next(batches)  # worker start-up is not throughput
    count, started = 0, time.perf_counter()
    for _ in range(steps):
        try: x, _ = next(batches)
        except StopIteration: break
        count += len(x)
    ips = {"loader": count / (time.perf_counter() - started)}
    torch.manual_seed(0)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n, (batch,), device=device)
    the_teacher = teacher(n).to(device, memory_format=torch.channels_last).eval()
    model, optimizer, scaler = _setup(student(n), device)
    teacher_model, teacher_optimizer, teacher_scaler = _setup(teacher(n), device)
    work = {"student CE": lambda: _train_step(model, optimizer, scaler, x, y, device),
            "student KD": lambda: _train_step(model, optimizer, scaler, x, y, device, the_teacher),
            "teacher": lambda: _train_step(teacher_model, teacher_optimizer, teacher_scaler, x, y, device)}
    for name, w in work.items():
        w()
        ips[name] = batch * steps / _timed(device, lambda: [w() for _ in range(steps)])
    ips["data-bound"] = ips["loader"] < ips["student KD"]
    return ips


def print_loop(result):
    print("fit against a bare loop: median seconds and median of the rounds' bare / fit (target ≥ 0.97)")
    for kind, r in result.items():
        print(f"  {kind}: fit {r['fit_s']:.2f} s, bare {r['bare_s']:.2f} s, speed {r['speed']:.3f}")


def print_steps(result, size, batch):
    print(f"one training step at {size} px, batch {batch} (median seconds)")
    for name, value in result.items():
        print(f"  {name:22s} {value:.4f}" + ("  (target ≤ 1.05)" if name.startswith("KD /") else "  (target ≤ 1.1)" if name.startswith("cached") else ""))


def print_throughput(result, size, batch, workers):
    print(f"throughput at {size} px, batch {batch}, images a second ({workers} loader workers)")
    for name, value in result.items():
        if name != "data-bound": print(f"  {name:12s} {value:9.1f}")
    print(f"  verdict: {'data-bound: the loader is slower than a KD student step' if result['data-bound'] else 'not data-bound'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "loop", "steps", "throughput"], default="all")
    parser.add_argument("--size", type=int, default=224, help="image size of steps and throughput")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=525, help="classes of the steps' and throughput's models")
    parser.add_argument("--workers", type=int, default=0, help="loader worker processes for the throughput")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of fit against the bare loop")
    parser.add_argument("--repeats", type=int, default=20, help="repeats of each step")
    parser.add_argument("--steps", type=int, default=10, help="batches of each throughput figure")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data", help="an image folder for the throughput (default: the embedded digits)")
    args = parser.parse_args(argv)
    try: device = resolve_device(args.device)
    except RuntimeError as e: parser.error(str(e))
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}, "
          f"{torch.get_num_threads()} threads")
    if args.part in ("all", "loop"): print_loop(loop_speed(args.rounds, batch=args.batch, device=device))
    if args.part in ("all", "steps"):
        print_steps(step_costs(args.classes, args.size, args.batch, args.repeats, device), args.size, args.batch)
    if args.part in ("all", "throughput"):
        splits = load_splits(args.data or make_digits(), size=args.size)
        print_throughput(throughput(splits, args.batch, args.workers, args.steps, device), args.size, args.batch, args.workers)


if __name__ == "__main__":
    main()
