"""Write-then-rename (keras_mia.utils.atomic): the old file or the new, never half of one."""

import os

import pytest

from keras_mia.utils.atomic import atomic_dir, atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "history.csv"
    write_text_atomic(target, "epoch\n0\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("epoch\n0\n1")  # half written, then the process "dies"
            raise RuntimeError("killed")
    assert target.read_text() == "epoch\n0\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == tmp_path  # same file system, same suffix
        tmp.write_text("epoch\n0\n1\n")
    assert target.read_text() == "epoch\n0\n1\n"


def test_files_get_the_mode_a_plain_open_gives(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "config.yaml", "a: 1\n")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "saved_model"
    with atomic_dir(target) as tmp:
        (tmp / "saved_model.pb").write_text("one")
    with pytest.raises(OSError):
        with atomic_dir(target) as tmp:
            (tmp / "saved_model.pb").write_text("two, half")
            raise OSError("disk full")
    assert (target / "saved_model.pb").read_text() == "one"
    with atomic_dir(target) as tmp:
        (tmp / "saved_model.pb").write_text("two")
    assert (target / "saved_model.pb").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model"]
