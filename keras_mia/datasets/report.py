"""What a dataset adapter did: counts, skipped items with their reasons, and notes.

Every adapter returns a ``PrepareReport``; ``prepare`` prints its summary and writes the
full text to ``OUT/prepare_report.txt``. Nothing an adapter drops goes unrecorded: each
skipped item is listed with the reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PrepareReport", "REPORT_FILE"]

REPORT_FILE = "prepare_report.txt"


@dataclass
class PrepareReport:
    """The outcome of ``keras_mia.datasets.prepare``.

    Attributes:
        dataset: the canonical dataset name (e.g. ``"cbis-ddsm"``).
        src: the folder read.
        out_dir: the folder written.
        manifest_path: ``OUT/manifest.csv``, or ``None`` before it is written.
        rows: the manifest rows written.
        skipped: ``(item, reason)`` for everything not turned into a row (an image, an
            abnormality, a CSV row, a patient, a patch quota).
        notes: things fixed or worth knowing that lost nothing (a swapped mask/crop pair, a
            patient moved to keep splits disjoint).
        extra_manifests: other manifests written, name -> path (e.g. ``"patches_s10"``).
        extra_counts: other tallies to print, name -> ``Counter`` (e.g. patches per class).
    """

    dataset: str
    src: Path
    out_dir: Path
    manifest_path: Path | None = None
    rows: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_manifests: dict[str, Path] = field(default_factory=dict)
    extra_counts: dict[str, Counter] = field(default_factory=dict)

    def skip(self, item: object, reason: str) -> None:
        """Records an item that was not written, and why."""
        self.skipped.append((str(item), str(reason)))

    def note(self, message: str) -> None:
        """Records a remark that does not drop anything."""
        self.notes.append(str(message))

    @property
    def n_images(self) -> int:
        return len(self.rows)

    @property
    def n_patients(self) -> int:
        return len({row.get("patient_id", "") for row in self.rows})

    def label_counts(self) -> Counter:
        """Images per label."""
        return Counter(str(row.get("label", "")) for row in self.rows)

    def split_label_counts(self) -> Counter:
        """Images per (split, label)."""
        return Counter((str(row.get("split", "")), str(row.get("label", ""))) for row in self.rows)

    def patients_per_split(self) -> Counter:
        per_split: dict[str, set] = {}
        for row in self.rows:
            per_split.setdefault(str(row.get("split", "")), set()).add(row.get("patient_id", ""))
        return Counter({split: len(ids) for split, ids in per_split.items()})

    def summary(self, max_items_per_reason: int | None = 20) -> str:
        """A human-readable account of the run.

        Args:
            max_items_per_reason: list at most this many skipped items per reason (the count
                is always complete); ``None`` lists every item.

        Returns:
            The multi-line text.
        """
        lines = [
            f"prepare {self.dataset}: {self.src} -> {self.out_dir}",
            f"  images: {self.n_images}   patients: {self.n_patients}",
        ]
        if self.manifest_path is not None:
            lines.append(f"  manifest: {self.manifest_path}")
        lines += _counter_lines("per label", self.label_counts())
        splits = self.split_label_counts()
        if any(split for split, _ in splits):
            lines.append("  per split:")
            patients = self.patients_per_split()
            for split in sorted({s for s, _ in splits}, key=_split_rank):
                labels = ", ".join(
                    f"{label} {n}" for (s, label), n in sorted(splits.items()) if s == split
                )
                total = sum(n for (s, _), n in splits.items() if s == split)
                lines.append(
                    f"    {split or '(none)'}: {total} images, {patients[split]} patients "
                    f"({labels})"
                )
        for name, counts in self.extra_counts.items():
            lines += _counter_lines(name, counts)
        for name, path in self.extra_manifests.items():
            lines.append(f"  {name} manifest: {path}")
        lines.append(f"  skipped: {len(self.skipped)}")
        by_reason: dict[str, list[str]] = {}
        for item, reason in self.skipped:
            by_reason.setdefault(reason, []).append(item)
        for reason, items in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(f"    {len(items)} x {reason}")
            shown = items if max_items_per_reason is None else items[:max_items_per_reason]
            lines += [f"        {item}" for item in shown]
            if len(shown) < len(items):
                lines.append(f"        ... {len(items) - len(shown)} more (see {REPORT_FILE})")
        if self.notes:
            lines.append(f"  notes: {len(self.notes)}")
            lines += [f"    {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def write(self, path: str | Path | None = None) -> Path:
        """Writes the complete summary (every skipped item) to ``OUT/prepare_report.txt``."""
        from keras_mia.utils.atomic import write_text_atomic

        path = Path(path) if path is not None else self.out_dir / REPORT_FILE
        return write_text_atomic(path, self.summary(max_items_per_reason=None) + "\n")


def _counter_lines(title: str, counts: Mapping) -> list[str]:
    if not counts:
        return [f"  {title}: none"]
    return [f"  {title}: " + ", ".join(f"{key} {n}" for key, n in sorted(counts.items()))]


def _split_rank(split: str) -> tuple[int, str]:
    order = {"train": 0, "val": 1, "test": 2}
    return (order.get(split, 3), split)
