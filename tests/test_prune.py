"Pruning: cumulative amounts, masks held through a whole retrain, compact files, export; channel-pruned students saved, exported and retrained."
import copy
from dataclasses import replace

import pytest
import torch

from lwm_nb.data import load_splits, make_digits, make_loaders
from lwm_nb.evaluate import evaluate
from lwm_nb.export import export_onnx, read_metadata
from lwm_nb.export import load_onnx
from lwm_nb.models import architecture, clone_model, count_params, load_model, make_permanent, mult_adds, save_model, student
from lwm_nb.channels import channel_groups
from lwm_nb.prune import global_prune, prunable, prune_and_retrain, prune_channels, pruned_share
from lwm_nb.train import fit


def test_amount_is_the_total_share_after_the_call():
    model = student(525)
    global_prune(model, 0.5)
    assert count_params(model) == 98_117
    global_prune(model, 0.6)
    assert count_params(model) == 79_805
    global_prune(model, 0.6)   # asking again changes nothing
    assert count_params(model) == 79_805
    with pytest.raises(ValueError, match="already 60.0% pruned"):
        global_prune(model, 0.2)


def test_pruning_is_global_and_by_magnitude():
    model = student(10)
    global_prune(model, 0.5)
    kept = torch.cat([m.weight_orig[m.weight_mask.bool()].abs().flatten() for m, _ in prunable(model)])
    removed = torch.cat([m.weight_orig[~m.weight_mask.bool()].abs().flatten() for m, _ in prunable(model)])
    assert removed.max() <= kept.min()
    sparsities = [float((m.weight_mask == 0).float().mean()) for m, _ in prunable(model)]
    assert max(sparsities) - min(sparsities) > 0.2   # unevenly spread over layers


def test_masks_held_through_the_whole_schedule_and_selection(tmp_path):
    splits = load_splits(make_digits(), size=32)
    subset = replace(splits, train=splits.train.subset(range(192)), valid=splits.valid.subset(range(96)))
    loaders = make_loaders(subset, batch_size=32, seed=0)
    torch.manual_seed(0)
    model = student(10, conv5=16)
    teacher = copy.deepcopy(model)
    results = prune_and_retrain(model, loaders, (0.5, 0.6), epochs=3, teacher=teacher, out=tmp_path / "run",
                                progress=False)
    first_masks = {n: b.clone() for n, b in results[0.5].model.named_buffers() if n.endswith("_mask")}
    assert pruned_share(results[0.5].model) == pytest.approx(0.5, abs=1e-5)
    final = results[0.6].model
    assert pruned_share(final) == pytest.approx(0.6, abs=1e-5)
    for name, mask in final.named_buffers():
        if name.endswith("_mask"):
            assert (mask <= first_masks[name]).all()   # 60 % keeps a subset of what 50 % kept
    for module, _ in prunable(final):
        assert ((module.weight == 0) | (module.weight_mask == 1)).all()
    # the selected (best-epoch) model file carries the masks
    for amount, folder in ((0.5, "pruned_50"), (0.6, "pruned_60")):
        saved = load_model(tmp_path / "run" / folder / "model.pt")
        assert pruned_share(saved) == pytest.approx(amount, abs=1e-5)
    # a finished schedule in the same folder is not retrained: the same models come back
    again = prune_and_retrain(student(10, conv5=16), loaders, (0.5, 0.6), epochs=3, teacher=teacher,
                              out=tmp_path / "run", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(again[0.6].model.state_dict().values(), final.state_dict().values()))


def test_sixty_percent_pruned_student_file_is_at_most_half(tmp_path):
    dense = student(525)
    pruned = global_prune(copy.deepcopy(dense), 0.6)
    a, b = save_model(dense, tmp_path / "dense.pt"), save_model(pruned, tmp_path / "pruned.pt")
    assert b.stat().st_size <= a.stat().st_size / 2
    back = load_model(b).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back(x), pruned.eval()(x))
    assert count_params(back) == 79_805


def test_make_permanent_keeps_outputs_and_drops_masks():
    model = global_prune(student(10), 0.6).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        make_permanent(model)
        assert torch.equal(model(x), before)
    assert not any(n.endswith(("_mask", "_orig")) for n, _ in list(model.named_buffers()) + list(model.named_parameters()))


# ---- structured (channel) pruning ---------------------------------------------------------------

def trained_like_student(n_classes=10):
    "A student whose BatchNorms differ per channel, as after training, so that a wrong channel would show."
    torch.manual_seed(0)
    model = student(n_classes).eval()
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            norm.weight.uniform_(0.2, 1.5); norm.bias.normal_(); norm.running_mean.normal_(); norm.running_var.uniform_(0.5, 2)
    return model


def test_channel_pruned_student_round_trips_through_a_file(tmp_path):
    dense = trained_like_student()
    pruned = prune_channels(dense, 0.5).eval()
    again, meta = load_model(save_model(pruned, tmp_path / "pruned.pt", classes=list("0123456789")), with_meta=True)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x), pruned(x), rtol=1e-6, atol=1e-6)
    assert architecture(again) == architecture(pruned) and "channels" in architecture(again)
    assert channel_groups(again) == channel_groups(pruned)
    assert meta == {"classes": list("0123456789")}
    assert count_params(again) == count_params(pruned) < count_params(dense)
    assert mult_adds(again, 64) == mult_adds(pruned, 64) < mult_adds(dense, 64)
    twin = clone_model(again)
    with torch.no_grad():
        assert torch.equal(twin.eval()(x), again(x))


def test_channel_pruned_student_exports_to_onnx_and_agrees_with_pytorch(tmp_path):
    pruned = prune_channels(trained_like_student(), 0.5).eval()
    onnx_model, classes = load_onnx(export_onnx(pruned, tmp_path / "pruned.onnx", size=32))
    assert classes == [str(i) for i in range(10)]
    assert read_metadata(tmp_path / "pruned.onnx")["architecture"] == architecture(pruned)
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(onnx_model(x), pruned(x), rtol=1e-4, atol=1e-4)


def test_channel_pruned_student_retrains_with_kd_and_evaluates(tmp_path):
    splits = load_splits(make_digits(), size=32)
    subset = replace(splits, train=splits.train.subset(range(128)), valid=splits.valid.subset(range(64)))
    loaders = make_loaders(subset, batch_size=32, seed=0)
    torch.manual_seed(0)
    dense = student(10)
    pruned = prune_channels(dense, 0.5)
    widths = channel_groups(pruned)
    result = fit(pruned, loaders, 1, teacher=dense, out=tmp_path / "run", progress=False)
    assert channel_groups(result.model) == widths
    assert evaluate(result.model, loaders.valid)["f1"] == result.best_f1   # it evaluates, and fit kept its best epoch
    saved = load_model(tmp_path / "run" / "model.pt")   # the selected model, as fit wrote it
    assert channel_groups(saved) == widths
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(saved.eval()(x), result.model.cpu().eval()(x), rtol=1e-5, atol=1e-5)
