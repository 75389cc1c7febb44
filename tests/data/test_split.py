"""Tests for keras_mia.data.split.split_by_patient."""

import random
from collections import Counter, defaultdict

import pytest

from keras_mia.data.split import split_by_patient


def _rows(n_patients=60, seed=123, positive_share=0.3):
    """Synthetic rows: 1-4 images per patient, one label per patient, shuffled order."""
    rng = random.Random(seed)
    rows = []
    for p in range(n_patients):
        label = "1" if rng.random() < positive_share else "0"
        for k in range(rng.randint(1, 4)):
            rows.append({"image_path": f"P{p}_{k}.png", "label": label, "patient_id": f"P{p}"})
    rng.shuffle(rows)
    return rows


def _splits_of_patients(rows):
    splits = defaultdict(set)
    for row in rows:
        splits[row["patient_id"]].add(row["split"])
    return splits


def test_no_patient_in_two_splits_across_many_seeds():
    for seed in range(40):
        rows = _rows(n_patients=25 + seed, seed=seed)
        out = split_by_patient(rows, seed=seed)
        assert len(out) == len(rows)
        assert all(len(s) == 1 for s in _splits_of_patients(out).values())
        assert {r["split"] for r in out} == {"train", "val", "test"}


def test_patient_counts_follow_fractions_and_strata():
    rows = _rows(n_patients=200, seed=7, positive_share=0.25)
    out = split_by_patient(rows, fractions=(0.7, 0.15, 0.15), seed=3)
    label_of = {r["patient_id"]: r["label"] for r in rows}
    split_of = {pid: next(iter(s)) for pid, s in _splits_of_patients(out).items()}
    per_split = Counter(split_of.values())
    assert per_split == {"train": 140, "val": 30, "test": 30}
    n_pos = sum(1 for v in label_of.values() if v == "1")
    for split, n in per_split.items():
        pos = sum(1 for pid, s in split_of.items() if s == split and label_of[pid] == "1")
        # Stratified: each split's share of positive patients is the global share +- 2 patients.
        assert abs(pos - n * n_pos / 200) <= 2, (split, pos, n)


def test_stratification_matters_compared_with_plain_shuffle():
    # 10 positive patients among 100: a stratified 80/10/10 split puts exactly 1 in val.
    rows = [
        {"image_path": f"{i}.png", "label": "1" if i < 10 else "0", "patient_id": str(i)}
        for i in range(100)
    ]
    for seed in range(20):
        out = split_by_patient(rows, seed=seed)
        positives = Counter(r["split"] for r in out if r["label"] == "1")
        assert positives == {"train": 8, "val": 1, "test": 1}


def test_deterministic_and_independent_of_row_order():
    rows = _rows(seed=5)
    first = split_by_patient(rows, seed=11)
    again = split_by_patient(rows, seed=11)
    assert first == again
    reordered = split_by_patient(list(reversed(rows)), seed=11)
    by_path = {r["image_path"]: r["split"] for r in reordered}
    assert all(by_path[r["image_path"]] == r["split"] for r in first)
    other = split_by_patient(rows, seed=12)
    assert [r["split"] for r in other] != [r["split"] for r in first]
    # The input rows are not modified.
    assert all("split" not in r for r in rows)


def test_every_split_non_empty_with_few_patients():
    rows = [{"image_path": f"{i}.png", "label": "a", "patient_id": str(i)} for i in range(3)]
    for seed in range(10):
        out = split_by_patient(rows, fractions=(0.8, 0.1, 0.1), seed=seed)
        assert sorted(r["split"] for r in out) == ["test", "train", "val"]
    with pytest.warns(UserWarning, match="stay empty"):
        out = split_by_patient(rows[:2], seed=0)
    assert len({r["split"] for r in out}) == 2


def test_two_way_split_defaults_to_train_val():
    out = split_by_patient(_rows(n_patients=20), fractions=(0.5, 0.5), seed=0, stratify=False)
    assert {r["split"] for r in out} == {"train", "val"}
    per_split = Counter(next(iter(s)) for s in _splits_of_patients(out).values())
    assert per_split == {"train": 10, "val": 10}


def test_only_split_carves_val_out_of_official_train():
    rows = _rows(n_patients=40, seed=2)
    for row in rows:
        row["split"] = "test" if int(row["patient_id"][1:]) >= 30 else "train"
    out = split_by_patient(rows, fractions=(0.9, 0.1), seed=4, only_split="train",
                           into=("train", "val"))
    for before, after in zip(rows, out):
        if before["split"] == "test":
            assert after["split"] == "test"
        else:
            assert after["split"] in ("train", "val")
    val_patients = {r["patient_id"] for r in out if r["split"] == "val"}
    assert len(val_patients) == 3  # 10 % of the 30 training patients
    assert all(len(s) == 1 for s in _splits_of_patients(out).values())


def test_keep_existing_assigns_only_unsplit_rows_and_keeps_patients_together():
    rows = [
        {"image_path": "a1.png", "label": "1", "patient_id": "A", "split": "test"},
        {"image_path": "a2.png", "label": "1", "patient_id": "A", "split": ""},
        {"image_path": "b1.png", "label": "0", "patient_id": "B", "split": "val"},
    ] + [
        {"image_path": f"{i}.png", "label": str(i % 2), "patient_id": f"N{i}", "split": ""}
        for i in range(20)
    ]
    out = split_by_patient(rows, seed=0, keep_existing=True)
    assert out[0]["split"] == "test" and out[1]["split"] == "test"
    assert out[2]["split"] == "val"
    assert all(r["split"] in ("train", "val", "test") for r in out)
    assert all(len(s) == 1 for s in _splits_of_patients(out).values())


def test_custom_stratum_callable_is_used():
    rows = [
        {"image_path": f"{p}_{k}.png", "label": str(int(k == 0 and p < 20)), "patient_id": str(p)}
        for p in range(100) for k in range(3)
    ]
    seen = []

    def any_positive(patient_rows):
        seen.append(len(patient_rows))
        return any(r["label"] == "1" for r in patient_rows)

    out = split_by_patient(rows, fractions=(0.5, 0.5), seed=1, stratify=any_positive)
    assert seen == [3] * 100
    positive_patients = Counter(r["split"] for r in out if r["label"] == "1")
    assert positive_patients == {"train": 10, "val": 10}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fractions": (0.8, 0.3)}, r"fractions=\(0.8, 0.3\)"),
        ({"fractions": (1.2, -0.2)}, r"fractions=\(1.2, -0.2\)"),
        ({"fractions": ()}, r"fractions=\(\)"),
        ({"fractions": "ab"}, "fractions='ab'"),
        ({"fractions": (0.5, 0.5), "into": ("train",)}, "into="),
        ({"into": ("train", "val", "holdout")}, "holdout"),
        ({"only_split": "train", "keep_existing": True}, "only_split='train'"),
        ({"stratify": "label"}, "stratify='label'"),
    ],
)
def test_bad_arguments_quote_the_received_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split_by_patient(_rows(n_patients=10), **kwargs)


def test_row_without_patient_is_an_error():
    rows = [{"image_path": "a.png", "label": "1", "patient_id": "P1"},
            {"image_path": "b.png", "label": "1", "patient_id": ""}]
    with pytest.raises(ValueError, match="Row 1 has no patient_id"):
        split_by_patient(rows)
