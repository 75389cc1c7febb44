"""Tests for keras_mia.data.manifest: reading, selecting and writing manifest CSV files."""

import csv
from pathlib import Path

import pytest

from keras_mia.data.manifest import Manifest, ManifestError, parse_manifest, write_manifest
from keras_mia.data.schema import ALL_COLUMNS, SPLITS


def _write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_load_reads_rows_columns_and_root(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        "image_path,label,patient_id,split\n"
        "a.png,cat,P1,train\n"
        "sub/b.png,dog,P2,val\n"
        "/abs/c.png,cat,P3,test\n",
    )
    manifest = Manifest.load(path)
    assert manifest.path == path
    assert manifest.root == tmp_path
    assert manifest.columns == ["image_path", "label", "patient_id", "split"]
    assert len(manifest) == 3
    assert manifest.rows[1] == {
        "image_path": "sub/b.png",
        "label": "dog",
        "patient_id": "P2",
        "split": "val",
    }
    assert manifest.line_numbers == [2, 3, 4]
    assert manifest.resolve("sub/b.png") == tmp_path / "sub" / "b.png"
    assert manifest.resolve("/abs/c.png") == Path("/abs/c.png")
    assert [r["image_path"] for r in manifest.select("train")] == ["a.png"]
    assert len(manifest.select()) == 3
    assert not manifest.has_masks
    assert manifest.where(2) == f"{path} line 4"


def test_load_accepts_byte_order_mark_and_strips_cells(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        "image_path , label,patient_id\n x.png ,  1 ,P9\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    manifest = Manifest.load(path)
    assert manifest.columns == ["image_path", "label", "patient_id"]
    assert manifest.rows == [{"image_path": "x.png", "label": "1", "patient_id": "P9"}]


def test_classes_sorted_like_keras_class_folders(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        "image_path,label,patient_id\n"
        "a.png,openI_abd_xray,1\nb.png,openI_CXR,2\nc.png,openI_abd_xray,3\n",
    )
    # Python string order, as Keras sorts folder names: upper case before lower case.
    assert Manifest.load(path).classes == ["openI_CXR", "openI_abd_xray"]


def test_has_masks(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        "image_path,label,patient_id,mask_path\na.png,1,P1,\nb.png,1,P2,b_mask.png\n",
    )
    assert Manifest.load(path).has_masks
    path = _write_text(tmp_path / "n.csv", "image_path,label,patient_id,mask_path\na.png,1,P1,\n")
    assert not Manifest.load(path).has_masks


def test_missing_required_column_names_file_and_column(tmp_path):
    path = _write_text(tmp_path / "m.csv", "image_path,label\na.png,1\n")
    with pytest.raises(ManifestError, match="patient_id") as info:
        Manifest.load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_every_row_problem_is_listed_with_its_line(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        "image_path,label,patient_id,split\n"
        "a.png,1,P1,train\n"
        "b.png,,P2,train\n"  # line 3: empty label
        "c.png,1,P3,TRAINING\n"  # line 4: unknown split
        "d.png,1,P4,val,extra\n"  # line 5: too many fields
        ",,,\n",  # line 6: only empty fields
    )
    with pytest.raises(ManifestError) as info:
        Manifest.load(path)
    message = str(info.value)
    assert "4 problem(s)" in message
    assert f"{path} line 3: empty required cell(s) ['label']" in message
    assert f"{path} line 4: unknown split 'TRAINING'" in message
    assert f"{path} line 5: row has 5 field(s)" in message
    assert f"{path} line 6: row has only empty fields" in message
    assert "line 2" not in message


def test_line_numbers_count_multiline_quoted_cells_and_blank_lines(tmp_path):
    path = _write_text(
        tmp_path / "m.csv",
        'image_path,label,patient_id,dataset\na.png,1,P1,"two\nlines"\n\nb.png,,P2,x\n',
    )
    manifest, problems = parse_manifest(path)
    assert manifest.line_numbers == [2, 5]
    assert problems == [f"{path} line 5: empty required cell(s) ['label'] (image_path='b.png')"]


def test_unknown_column_is_kept_and_reported_as_warning(tmp_path):
    path = _write_text(tmp_path / "m.csv", "image_path,label,patient_id,scanner\na.png,1,P1,GE\n")
    manifest = Manifest.load(path)
    assert manifest.rows[0]["scanner"] == "GE"
    assert len(manifest.warnings) == 1 and "scanner" in manifest.warnings[0]


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        Manifest.load(tmp_path / "nope.csv")
    with pytest.raises(ManifestError, match="empty"):
        Manifest.load(_write_text(tmp_path / "empty.csv", ""))
    with pytest.raises(ManifestError, match="duplicate column"):
        Manifest.load(_write_text(tmp_path / "dup.csv", "image_path,label,patient_id,label\n"))


def test_select_rejects_unknown_split_and_missing_split_column(tmp_path):
    path = _write_text(tmp_path / "m.csv", "image_path,label,patient_id\na.png,1,P1\n")
    manifest = Manifest.load(path)
    with pytest.raises(ValueError, match="split='training'"):
        manifest.select("training")
    with pytest.raises(ManifestError, match="no 'split' column"):
        manifest.select("train")


def test_write_orders_columns_and_relativises_paths(tmp_path):
    out = tmp_path / "out" / "manifest.csv"
    inside = tmp_path / "out" / "img" / "a.png"
    outside = tmp_path / "elsewhere" / "b.png"
    rows = [
        {"scanner": "GE", "split": "train", "label": "1", "patient_id": "P1",
         "image_path": inside, "mask_path": str(inside.with_name("a_mask.png"))},
        {"label": "0", "patient_id": "P2", "image_path": str(outside), "split": None,
         "mask_path": ""},
        {"label": "0", "patient_id": "P3", "image_path": "already/relative.png"},
    ]
    assert write_manifest(out, rows) == out
    with open(out, newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    header = records[0]
    schema_part = [c for c in header if c in ALL_COLUMNS]
    assert schema_part == [c for c in ALL_COLUMNS if c in header]
    assert header == ["image_path", "label", "patient_id", "split", "mask_path", "scanner"]
    assert records[1] == ["img/a.png", "1", "P1", "train", "img/a_mask.png", "GE"]
    assert records[2] == [str(outside), "0", "P2", "", "", ""]
    assert records[3][0] == "already/relative.png"
    # Round trip: the loaded manifest resolves the written paths back to the same files.
    manifest = Manifest.load(out)
    assert manifest.resolve(manifest.rows[0]["image_path"]) == inside
    assert manifest.resolve(manifest.rows[1]["image_path"]) == outside
    assert not list(out.parent.glob("*.tmp"))


def test_write_with_explicit_columns_and_errors(tmp_path):
    rows = [{"image_path": "a.png", "label": "1", "patient_id": "P1"}]
    out = write_manifest(tmp_path / "m.csv", rows, columns=["patient_id", "label", "image_path"])
    assert out.read_text().splitlines() == ["patient_id,label,image_path", "P1,1,a.png"]
    with pytest.raises(ValueError, match="missing required column"):
        write_manifest(tmp_path / "x.csv", rows, columns=["image_path", "label"])
    with pytest.raises(ValueError, match="row 0 has column"):
        write_manifest(tmp_path / "y.csv", [dict(rows[0], view="CC")],
                       columns=["image_path", "label", "patient_id"])
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "y.csv").exists()


def test_write_then_load_keeps_every_split(tmp_path):
    rows = [
        {"image_path": f"{i}.png", "label": str(i % 2), "patient_id": f"P{i}", "split": s}
        for i, s in enumerate(SPLITS)
    ]
    manifest = Manifest.load(write_manifest(tmp_path / "m.csv", rows))
    assert manifest.rows == rows
    for split in SPLITS:
        assert [r["split"] for r in manifest.select(split)] == [split]
