"Bad-input cases of `load_splits` on small trees built on the fly, and the embedded data set."
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lwm_nb.data import load_splits, make_digits, make_loaders, read_rgb

rng = np.random.default_rng(0)


def rgb(h=20, w=30):
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def tree(root: Path, classes=("ABBOTTS BABBLER", "ZEBRA DOVE"), splits=("train", "valid", "test"), per_class=2):
    for split in splits:
        for cls in classes:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                rgb().save(root / split / cls / f"{i}.jpg")
    return root


def load_quietly(root, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_splits(root, **kw)
    return splits, [str(w.message) for w in caught]


def test_every_image_mode_and_format_becomes_rgb(tmp_path):
    root = tree(tmp_path, per_class=1)
    cls = root / "train" / "ABBOTTS BABBLER"
    rgb().convert("L").save(cls / "gray.jpg")
    rgb().convert("CMYK").save(cls / "cmyk.jpg")
    rgb().convert("RGBA").save(cls / "rgba.png")
    rgb().convert("P").save(cls / "palette.gif")
    Image.fromarray(rng.integers(0, 65535, (12, 9), dtype=np.uint16)).save(cls / "sixteen_bit.png")
    rgb(300, 500).save(cls / "large.webp")
    rgb().save(cls / "bitmap.bmp")
    splits, messages = load_quietly(root, size=48)
    assert messages == []
    assert len(splits.train) == 2 + 7
    for i in range(len(splits.train)):
        x, y = splits.train[i]
        assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert read_rgb(cls / "sixteen_bit.png").mode == "RGB"


def test_unreadable_files_are_left_out_with_one_warning_naming_each(tmp_path):
    root = tree(tmp_path)
    cls = root / "train" / "ZEBRA DOVE"
    good = (cls / "0.jpg").read_bytes()
    (cls / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (cls / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 200)
    (root / "test" / "ABBOTTS BABBLER" / "notes.txt").write_text("not a bird")
    (root / "valid" / "ZEBRA DOVE" / "empty.jpg").write_bytes(b"")
    splits, messages = load_quietly(root, size=16)
    assert len(messages) == 1
    for name in ("truncated.jpg", "Thumbs.db", "notes.txt", "empty.jpg"):
        assert name in messages[0]
    assert "4 file(s)" in messages[0]
    assert sorted(p.name for p in splits.skipped) == ["Thumbs.db", "empty.jpg", "notes.txt", "truncated.jpg"]
    # nothing readable is dropped
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (4, 4, 4)
    # a whole epoch runs without meeting a broken file
    batches = [y for _, y in make_loaders(splits, batch_size=2).train]
    assert sum(len(y) for y in batches) == 4


def test_class_names_match_across_splits_by_words_not_spacing(tmp_path):
    for split, name in [("train", "PARAKETT  AUKLET"), ("valid", "PARAKETT AUKLET"), ("test", "PARAKETT  AUKLET")]:
        for cls in (name, "COCK OF THE  ROCK", "ABBOTTS BABBLER"):
            (tmp_path / split / cls).mkdir(parents=True)
            rgb().save(tmp_path / split / cls / "a.jpg")
    splits, _ = load_quietly(tmp_path, size=16)
    assert splits.classes == ["ABBOTTS BABBLER", "COCK OF THE  ROCK", "PARAKETT  AUKLET"]
    auklet = splits.classes.index("PARAKETT  AUKLET")
    assert splits.valid.targets.count(auklet) == 1 and splits.test.targets.count(auklet) == 1
    assert sorted(splits.valid.targets) == [0, 1, 2]


def test_class_missing_from_train_is_an_error_naming_it(tmp_path):
    root = tree(tmp_path)
    (root / "test" / "SNOWY OWL").mkdir()
    rgb().save(root / "test" / "SNOWY OWL" / "1.jpg")
    with pytest.raises(ValueError, match=r"test/ has 1 class\(es\) that train/ lacks: 'SNOWY OWL'"):
        load_splits(root)


@pytest.mark.parametrize("missing", ["train", "valid", "test"])
def test_missing_split_is_an_error_naming_it(tmp_path, missing):
    root = tree(tmp_path, splits=[s for s in ("train", "valid", "test") if s != missing])
    with pytest.raises(FileNotFoundError, match=f"no {missing}/ folder"):
        load_splits(root)


def test_split_without_readable_images_is_an_error(tmp_path):
    root = tree(tmp_path, splits=("train", "test"))
    (root / "valid" / "ZEBRA DOVE").mkdir(parents=True)
    (root / "valid" / "ZEBRA DOVE" / "x.jpg").write_text("garbage")
    with pytest.raises(ValueError, match="valid holds no readable image"):
        load_quietly(root)


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_splits(tmp_path / "nowhere")


def test_top_level_files_and_birds_csv_do_not_confuse_it(tmp_path):
    root = tree(tmp_path / "archive", classes=("ABBOTTS BABBLER", "PARAKETT  AUKLET"))
    (root / "EfficientNetB0-525-(224 X 224)- 98.97.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    (root / "birds.csv").write_text(
        "class id,filepaths,labels,data set,scientific name\n"
        "0.0,train/ABBOTTS BABBLER/001.jpg,ABBOTTS BABBLER,train,MALACOCINCLA ABBOTTI\n"
        "1.0,train/PARAKETT  AUKLET/001.jpg,PARAKETT AUKLET,train,AETHIA PSITTACULA\n"
        "1.0,valid/PARAKETT AUKLET/1.jpg,PARAKEET AUKLET,valid,AETHIA PSITTACULA\n")
    # pointing at the folder above the archive works too: it nests one level
    splits, messages = load_quietly(tmp_path, size=16)
    assert messages == []
    assert splits.root == root
    assert splits.classes == ["ABBOTTS BABBLER", "PARAKETT  AUKLET"]
    assert splits.scientific_names == {"ABBOTTS BABBLER": "MALACOCINCLA ABBOTTI",
                                       "PARAKETT  AUKLET": "AETHIA PSITTACULA"}
    assert len(splits.train) == 4


def test_make_digits_is_idempotent_and_refuses_foreign_folders(tmp_path):
    root = make_digits(tmp_path / "digits")
    files = sorted(p.relative_to(root) for p in root.rglob("*.png"))
    assert len(files) == 1797
    mtime = (root / files[0]).stat().st_mtime_ns
    assert make_digits(root) == root and (root / files[0]).stat().st_mtime_ns == mtime
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a data set written by make_digits"):
        make_digits(other)
    assert (other / "mine.txt").read_text() == "keep me"


def test_same_seed_same_batches_whatever_the_workers(tmp_path):
    splits, _ = load_quietly(tree(tmp_path, per_class=5), size=16)
    def first_two(workers, seed):
        it = iter(make_loaders(splits, batch_size=4, workers=workers, seed=seed).train)
        return [next(it) for _ in range(2)]
    a, b, c = first_two(0, 7), first_two(2, 7), first_two(0, 8)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(ya, yb) and torch.equal(xa, xb)
    assert not all(torch.equal(xa, xc) for (xa, _), (xc, _) in zip(a, c))


def _gpu_seeding():
    "The GPU generators' states, or before CUDA starts, the reseed torch has queued for them."
    if torch.cuda.is_initialized(): return [state.clone() for state in torch.cuda.get_rng_state_all()]
    return [torch.cuda._lazy_seed_tracker.manual_seed_all_cb]


def test_seeded_augmentation_leaves_every_global_generator_alone(tmp_path):
    # a per-image torch.manual_seed would also reseed the GPU generators, clobbering the training's
    # CUDA randomness once per image (and cost ~2 ms an image recording the queued call's stack)
    splits, _ = load_quietly(tree(tmp_path, per_class=3), size=16)
    cpu, gpu = torch.get_rng_state(), _gpu_seeding()
    first = splits.train[(0, 123)][0]
    assert torch.equal(torch.get_rng_state(), cpu)
    assert all(a is b or (torch.is_tensor(a) and torch.equal(a, b)) for a, b in zip(_gpu_seeding(), gpu))
    assert torch.equal(splits.train[(0, 123)][0], first) and not torch.equal(splits.train[(0, 124)][0], first)


def test_an_unchanged_folder_is_not_decoded_again_but_a_changed_file_is(tmp_path, monkeypatch):
    import lwm_nb.image_folders as image_folders             # where load_splits checks its images
    monkeypatch.setenv("LWM_DATA", str(tmp_path / "home"))   # where load_splits remembers what it checked
    root = make_digits(tmp_path / "digits")
    decoded, real = [], image_folders.is_readable_image
    monkeypatch.setattr(image_folders, "is_readable_image", lambda p: decoded.append(p) or real(p))
    load_splits(root, size=32)
    assert len(decoded) == 1797                     # the first scan decodes every image
    decoded.clear()
    load_splits(root, size=32)
    assert decoded == []                            # unchanged: nothing decoded again
    victim = sorted((root / "test").rglob("*.png"))[0]
    victim.write_bytes(b"no longer an image")       # another size and modification time
    with pytest.warns(UserWarning, match=victim.name):
        splits = load_splits(root, size=32)
    assert decoded == [victim] and splits.skipped == [victim]
