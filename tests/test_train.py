"fit: exact resume after SIGKILL, determinism, the NaN stop, and settings guarded across resumes."
import math
import multiprocessing
import signal
import time
from pathlib import Path
from dataclasses import replace

import pytest
import torch

from lwm_nb.data import load_splits, make_digits, make_loaders
from lwm_nb.models import load_model, student
from lwm_nb.lr_schedules import cyclic
from lwm_nb.scheduler import threads
from lwm_nb.train import fit

def train_job(digits, out):
    "Six epochs of a small student on one torch thread, a checkpoint after each (no limit on their overhead), so that the kills below land between known ones."
    splits = load_splits(digits, size=32)
    subset = replace(splits, train=splits.train.subset(range(128)), valid=splits.valid.subset(range(64)))
    loaders = make_loaders(subset, batch_size=32, seed=3)
    torch.manual_seed(3)
    with threads(1):   # the same kernels in this process and in its forked children
        fit(student(10, conv5=16), loaders, epochs=6, out=out, seed=3, progress=False, checkpoint_overhead=float("inf"))


@pytest.fixture(scope="module")
def digits():
    return make_digits()


def job(digits, out) -> multiprocessing.Process:
    "`train_job` in a child forked from this process (it starts at once: nothing to import), to be killed at any moment."
    process = multiprocessing.get_context("fork").Process(target=train_job, args=(digits, out))
    process.start()
    return process


def checkpoint_epoch(out: Path) -> int:
    try:
        return torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    except Exception:
        return 0


def history_without_time(meta):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in meta["history"]]


def test_sigkill_at_any_moment_then_resume_equals_an_uninterrupted_run(digits, tmp_path):
    straight = tmp_path / "straight"
    train_job(digits, straight)   # in this process: the kills below are what needs processes of their own
    resumed = tmp_path / "resumed"
    # kill once inside epoch 2 and once inside epoch 5, each a little after the checkpoint before it
    for after_epoch, delay in ((1, 0.2), (4, 0.1)):
        proc = job(digits, resumed)
        deadline = time.time() + 300
        while checkpoint_epoch(resumed) < after_epoch and proc.is_alive() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        proc.kill()   # SIGKILL
        proc.join()
        assert proc.exitcode == -signal.SIGKILL, "the job finished before it could be killed"
        assert 1 <= checkpoint_epoch(resumed) < 6
    proc = job(digits, resumed)
    proc.join(timeout=300)
    assert proc.exitcode == 0
    a, meta_a = load_model(straight / "model.pt", with_meta=True)
    b, meta_b = load_model(resumed / "model.pt", with_meta=True)
    assert history_without_time(meta_a) == history_without_time(meta_b)
    assert meta_a["best_epoch"] == meta_b["best_epoch"]
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    # the final checkpoints agree to the last byte of every tensor, optimizer included
    ca = torch.load(straight / "checkpoint.pt", weights_only=True)
    cb = torch.load(resumed / "checkpoint.pt", weights_only=True)
    for key in ("model", "best_state"):
        assert all(torch.equal(ca[key][k], cb[key][k]) for k in ca[key])
    assert all(torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
               for sa, sb in zip(ca["optimizer"]["state"].values(), cb["optimizer"]["state"].values()))


def small_loaders(digits, n=128, seed=0):
    splits = load_splits(digits, size=32)
    subset = replace(splits, train=splits.train.subset(range(n)), valid=splits.valid.subset(range(64)))
    return make_loaders(subset, batch_size=32, seed=seed)


def test_same_seed_same_result_different_seed_different_result(digits):
    def run(seed):
        torch.manual_seed(seed)
        return fit(student(10, conv5=16), small_loaders(digits, seed=seed), epochs=2, seed=seed, progress=False)
    a, b, c = run(5), run(5), run(6)
    assert [r["valid_loss"] for r in a.history] == [r["valid_loss"] for r in b.history]
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), c.model.state_dict().values()))


class PoisonAt:
    "A training loader that turns the images of one (epoch, step) into NaN."
    def __init__(self, loader, epoch, step):
        self.loader, self.sampler, self.at, self.epoch = loader, loader.sampler, (epoch, step), 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epoch += 1
        for step, (x, y) in enumerate(self.loader, 1):
            yield (torch.full_like(x, float("nan")) if (self.epoch, step) == self.at else x), y


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_checkpoint(digits, tmp_path):
    loaders = small_loaders(digits)
    poisoned = replace(loaders, train=PoisonAt(loaders.train, 2, 3))
    # no BatchNorm re-estimation: PoisonAt counts passes over the loader, and that would be one more each epoch
    with pytest.raises(FloatingPointError, match=r"epoch 2, step 3.*checkpoint of epoch 1"):
        fit(student(10, conv5=16), poisoned, epochs=3, out=tmp_path, recalibrate_bn_below=0, progress=False)
    assert checkpoint_epoch(tmp_path) == 1
    # the run resumes from that checkpoint with clean data
    result = fit(student(10, conv5=16), small_loaders(digits), epochs=3, out=tmp_path, recalibrate_bn_below=0, progress=False)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]


def test_a_folder_is_not_resumed_with_other_settings(digits, tmp_path):
    fit(student(10, conv5=16), small_loaders(digits), epochs=1, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="holds a run with other settings.*lr_schedule"):
        fit(student(10, conv5=16), small_loaders(digits), epochs=1, out=tmp_path, lr_schedule=cyclic(3e-3, 1e-2), progress=False)


def test_training_set_that_leaves_one_image_over(digits):
    loaders = small_loaders(digits, n=65)   # 65 = 2 * 32 + 1
    result = fit(student(10, conv5=16), loaders, epochs=1, progress=False)
    assert len(loaders.train) == 2 and len(result.history) == 1


def test_cuda_without_a_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        fit(student(10), small_loaders(digits), epochs=1, device="cuda", progress=False)


def test_a_kd_variant_trains_through_fit_and_neither_a_checkpoint_nor_a_run_folder_resumes_under_another_loss(small_digits, tmp_path):
    from lwm_nb.kd_variants import KD_LOSSES
    from lwm_nb.profiles import PROFILES
    from lwm_nb.run_store import Run
    loaders = make_loaders(load_splits(small_digits, size=32), 16, seed=0)
    torch.manual_seed(0)
    the_teacher = student(10, verbose=False)
    for name in ("lskd", "dkd"):
        torch.manual_seed(1)
        result = fit(student(10, verbose=False), loaders, 1, teacher=the_teacher, kd_loss=KD_LOSSES[name], temperature=2.0,
                     out=tmp_path / name, progress=False, checkpoint_overhead=1e9)
        assert math.isfinite(result.history[-1]["train_loss"])
        with pytest.raises(ValueError, match="kd_loss"):   # its checkpoint, resumed under Hinton's loss: refused
            fit(student(10, verbose=False), loaders, 1, teacher=the_teacher, temperature=2.0, out=tmp_path / name, progress=False)
    Run(small_digits, tmp_path / "run", "quick", progress=False)
    with pytest.raises(ValueError, match="other settings"):
        Run(small_digits, tmp_path / "run", replace(PROFILES["quick"], kd_loss="dkd"), progress=False)
