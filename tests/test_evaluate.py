"evaluate against scikit-learn, on devices and modes, and the speed/size table's shape and units."
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score
from torch import nn

from lwm_nb.evaluate import confused_pairs, evaluate, per_class
from lwm_nb.timing import speed_and_size
from lwm_nb.models import count_params, student


class FixedAnswers(nn.Module):
    "Returns the logits stored for the sample whose index is written in the input."
    def __init__(self, logits):
        super().__init__()
        self.register_buffer("table", logits)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x):
        return self.dropout(self.table[x[:, 0].long()]) if self.training else self.table[x[:, 0].long()]


def loader_for(targets, batch_size=7):
    idx = torch.arange(len(targets)).float().unsqueeze(1)
    return torch.utils.data.DataLoader(list(zip(idx, torch.as_tensor(targets))), batch_size=batch_size)


@pytest.mark.parametrize("seed", range(5))
def test_matches_scikit_learn_on_random_answers(seed):
    rng = np.random.default_rng(seed)
    n, k = 101, 9
    targets = rng.integers(0, k, n)
    logits = torch.from_numpy(rng.normal(size=(n, k))).float()
    logits[torch.arange(n), torch.as_tensor(targets)] += float(rng.uniform(0, 2))
    r = evaluate(FixedAnswers(logits), loader_for(targets))
    predictions = logits.argmax(1).numpy()
    assert r["f1"] == pytest.approx(f1_score(targets, predictions, average="macro"), abs=1e-12)
    assert r["accuracy"] == pytest.approx(accuracy_score(targets, predictions))
    assert r["loss"] == pytest.approx(F.cross_entropy(logits, torch.as_tensor(targets)).item(), rel=1e-6)
    assert r["n"] == n and (r["targets"] == targets).all()


def test_class_never_predicted_counts_as_zero():
    targets = [0, 1, 2, 2]
    logits = F.one_hot(torch.tensor([0, 1, 1, 1]), 3).float()
    r = evaluate(FixedAnswers(logits), loader_for(targets))
    # class 0: F1 1; class 1: P 1/3 R 1 -> 1/2; class 2: never predicted -> 0
    assert r["f1"] == pytest.approx((1 + 0.5 + 0) / 3)
    table = per_class(r, ["a", "b", "c"])
    assert table["class"].tolist() == ["c", "b", "a"]
    assert table.f1.tolist() == pytest.approx([0, 0.5, 1])


def test_mode_and_gradients():
    model = FixedAnswers(torch.randn(10, 4)).train()
    r = evaluate(model, loader_for(np.arange(10) % 4))
    assert model.training
    assert not r["logits"].requires_grad
    # eval mode was used: dropout would have zeroed some logits
    assert torch.equal(r["logits"], model.table)
    model.eval()
    evaluate(model, loader_for(np.arange(10) % 4))
    assert not model.training


def test_empty_loader_is_a_clear_error():
    with pytest.raises(ValueError, match="no batch"):
        evaluate(FixedAnswers(torch.randn(1, 2)), [])


def test_confused_pairs_counts():
    r = {"targets": np.array([0, 0, 0, 1, 1, 2]), "predictions": np.array([1, 1, 0, 1, 0, 2]), "n": 6}
    pairs = confused_pairs(r, ["x", "y", "z"])
    assert pairs.values.tolist() == [["x", "y", 2, pytest.approx(2 / 3)], ["y", "x", 1, 0.5]]


def test_speed_and_size_table_shape_and_units():
    models = {"wide": student(10, conv5=256), "narrow": student(10, conv5=16)}
    table = speed_and_size(models, size=32, batch=8, devices=["cpu"], repeats=2)
    assert table.index.tolist() == ["wide", "narrow"]
    assert table.loc["narrow", "params"] == count_params(models["narrow"])
    assert table.loc["wide", "params_ratio"] == 1 and table.loc["wide", "cpu_speedup"] == 1
    assert table.loc["narrow", "params_ratio"] == pytest.approx(count_params(models["narrow"]) / count_params(models["wide"]))
    # units: MB of a float32 file are about 4 bytes a parameter; latency in ms; throughput in images/s
    assert table.loc["wide", "file_MB"] == pytest.approx(4 * count_params(models["wide"]) / 1e6, rel=0.15)
    assert 0.01 < table.loc["narrow", "cpu_latency_ms"] < 5_000
    assert 0.1 < table.loc["narrow", "mult_adds_M"] < 10
    assert table.attrs["size"] == 32 and table.attrs["batch"] == 8
