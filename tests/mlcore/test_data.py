import pytest

from mlcore.data import load_arrays, read_dataset, split_by_lesion
from mlcore.errors import DataError

from .conftest import write_dataset


def test_dataset_reads_every_row_with_metadata(dataset_dir):
    dataset = read_dataset(dataset_dir)
    assert len(dataset.records) == 56 and not dataset.problems
    assert dataset.splits == {"train", "val"}
    record = dataset.records[0]
    assert record.dx == "akiec" and record.lesion_id == "HAM_0000" and record.sex == "male"
    assert any(r.age is None for r in dataset.records)  # empty age parsed as missing
    assert any(r.path.suffix == ".png" for r in dataset.records)


def test_missing_and_unreadable_images_are_reported_by_name(dataset_dir):
    (dataset_dir / "images" / "ISIC_00000.jpg").unlink()
    (dataset_dir / "images" / "ISIC_10000.jpg").write_bytes(b"garbage")
    dataset = read_dataset(dataset_dir)
    assert dataset.problems == ["ISIC_00000: image file not found"]
    arrays = load_arrays(dataset, 32, show_progress=False)
    assert len(arrays.labels) == 54
    assert any(p.startswith("ISIC_10000:") for p in arrays.problems)


def test_unknown_class_is_reported(dataset_dir):
    metadata = dataset_dir / "metadata.csv"
    metadata.write_text(metadata.read_text().replace(",akiec,", ",zzz,", 1))
    assert read_dataset(dataset_dir).problems[0].endswith("unknown class 'zzz'")


def test_a_directory_without_metadata_or_columns_is_refused(tmp_path):
    with pytest.raises(DataError, match="metadata.csv"):
        read_dataset(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "metadata.csv").write_text("image_id,label\nx,nv\n")
    with pytest.raises(DataError, match="dx"):
        read_dataset(tmp_path)


def test_resplit_keeps_every_lesion_on_one_side(tmp_path):
    dataset = read_dataset(write_dataset(tmp_path / "d", per_class=12, with_split=False))
    assert dataset.splits == set()
    train, val = split_by_lesion(dataset, val_fraction=0.25)
    train_lesions = {r.lesion_id for r in train.records}
    val_lesions = {r.lesion_id for r in val.records}
    assert train_lesions.isdisjoint(val_lesions)
    assert len(train.records) + len(val.records) == len(dataset.records)
    assert {r.dx for r in val.records} == {r.dx for r in dataset.records}  # stratified by class
