"Model files and pretrained weights: the failure cases a user meets."
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from lwm_nb import models
from lwm_nb.models import count_params, load_model, save_model, student, teacher


def prune_60(model):
    prune.global_unstructured([(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))],
                              prune.L1Unstructured, amount=0.6)
    return model


def test_missing_imagenet_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        teacher(525, weights="imagenet")
    message = str(err.value)
    assert "regnet_x_1_6gf-a12f2b72.pth" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "copy" in message and "TORCH_HOME" in message


def test_imagenet_weights_come_from_the_cache_unchanged(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    reference = models._plain_student(1000, 1024).state_dict()
    torch.save(reference, folder / "shufflenetv2_x0.5-f707e7126e.pth")
    model = student(525, conv5=1024, weights="imagenet")
    assert "fc.weight, fc.bias" in capsys.readouterr().out
    assert model.pretrained_left_out == ["fc.weight", "fc.bias"]
    got = model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in reference.items() if not k.startswith("fc."))


def test_a_run_from_imagenet_weights_fetches_them_once_before_it_claims_its_folder(tmp_path, monkeypatch, small_digits):
    from dataclasses import replace
    from lwm_nb import pretrained
    from lwm_nb.profiles import PROFILES
    from lwm_nb.run_store import Run
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LWM_OFFLINE", "0")
    fetched = []
    def download(url, path):  # what arrives is a checkpoint of the architecture, as from download.pytorch.org
        fetched.append((Path(url).name, (tmp_path / "run").exists()))
        torch.save(models._plain_teacher(1000).state_dict() if "regnet" in url else models._plain_student(1000, 1024).state_dict(), path)
    monkeypatch.setattr(pretrained, "download_weights", download)
    imagenet = replace(PROFILES["quick"], weights="imagenet")
    Run(small_digits, tmp_path / "run", imagenet, progress=False)
    assert fetched == [("regnet_x_1_6gf-a12f2b72.pth", False), ("shufflenetv2_x0.5-f707e7126e.pth", False)]
    assert (tmp_path / "run" / "run.json").is_file()
    Run(small_digits, tmp_path / "run", imagenet, progress=False)
    assert len(fetched) == 2   # once, then from torchvision's cache
    assert teacher(10, weights="imagenet", verbose=False).pretrained_left_out == ["fc.weight", "fc.bias"]


def test_weights_from_a_path_state_dict_or_model_file(tmp_path):
    source = student(7, conv5=32)
    torch.save(source.state_dict(), tmp_path / "plain.pth")
    save_model(prune_60(student(7, conv5=32)), tmp_path / "model.pt")
    for path in ("plain.pth", "model.pt"):
        model = student(7, conv5=32, weights=tmp_path / path, verbose=False)
        assert model.pretrained_left_out == []
    assert torch.equal(student(7, conv5=32, weights=tmp_path / "plain.pth").fc.weight, source.fc.weight)
    with pytest.raises(ValueError, match="fits this model beyond .* another architecture"):
        teacher(7, weights=tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="weights must be None, 'imagenet' or a path"):
        student(7, weights=3)


def test_round_trip_without_being_told_the_architecture(tmp_path):
    for model in (teacher(3).eval(), student(3, conv5=128).eval(), prune_60(student(3)).eval()):
        path = save_model(model, tmp_path / "m.pt", classes=["a", "b", "c"])
        again, meta = load_model(path, with_meta=True)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(again.eval()(x), model(x))
        assert meta == {"classes": ["a", "b", "c"]}
        assert count_params(again) == count_params(model)


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"format": models.MODEL_FORMAT, "kind": "student", "meta": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="Refused to load .*Nothing in it was run"):
        load_model(tmp_path / "evil.pt")
    assert not marker.exists()


def test_truncated_missing_and_foreign_files(tmp_path):
    good = save_model(student(4), tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(tmp_path / "cut.pt")
    with pytest.raises(FileNotFoundError, match="No model file"):
        load_model(tmp_path / "absent.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a readable PyTorch file"):
        load_model(tmp_path / "text.pt")
    torch.save(student(4).state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="not an lwm_nb model file"):
        load_model(tmp_path / "plain.pt")


def test_file_of_another_architecture_is_a_clear_error(tmp_path):
    obj = torch.load(save_model(student(4, conv5=32), tmp_path / "s.pt"), weights_only=True)
    torch.save({**obj, "conv5": 64}, tmp_path / "lying.pt")
    with pytest.raises(ValueError, match="does not fit a student with 4 classes and conv5=64"):
        load_model(tmp_path / "lying.pt")
    torch.save({**obj, "kind": "transformer"}, tmp_path / "alien.pt")
    with pytest.raises(ValueError, match="unknown kind 'transformer'"):
        load_model(tmp_path / "alien.pt")


def test_crash_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = save_model(student(4), tmp_path / "m.pt")
    before = path.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(models.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(teacher(4), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_count_params_skips_what_masks_remove():
    model = prune_60(student(525))
    assert count_params(model) == 189_677 - round(0.6 * 183_120)
    assert sum(p.numel() for p in model.parameters()) == 189_677
