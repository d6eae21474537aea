"A teacher trained on a user's small folder (BIRDS layout, 5 classes, 59 training images; `conftest.small_folder`) is validated on settled BatchNorm statistics. The whole run on that folder: `test_pipeline`."

import torch

from lwm_nb.data import load_splits, make_loaders
from lwm_nb.models import teacher
from lwm_nb.train import fit
from lwm_nb.lr_schedules import step


def teacher_f1(folder, recalibrate_bn_below):
    splits = load_splits(folder, size=32)
    assert len(splits.train) == 59
    torch.manual_seed(0)
    result = fit(teacher(5), make_loaders(splits, 16, seed=0), epochs=6, lr_schedule=step(1e-3, every=2, gamma=0.6), seed=0,
                 recalibrate_bn_below=recalibrate_bn_below, progress=False)
    assert len(result.history) * 4 == 24  # 4 batches an epoch: 24 optimizer steps in all
    return result.best_f1


def test_a_teacher_validated_after_few_steps_is_judged_on_settled_batchnorm_statistics(small_folder):
    stale = teacher_f1(small_folder, recalibrate_bn_below=0)     # running averages, as before
    settled = teacher_f1(small_folder, recalibrate_bn_below=50)   # re-estimated on training images
    assert settled >= 2 * (1 / 5), f"validation macro-F1 {settled:.3f} after 24 steps, chance is 0.2"
    assert settled > stale

