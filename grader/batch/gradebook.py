"""The gradebook: ``grades.csv``, one row per submission, that an LMS imports as it is.

Columns: id, total, bonus, status, then one per checkpoint (in the handout's order). Numbers
use a dot and no unit; a submission without a grade has empty numbers and its status says why
(the class report gives the reason).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from grader.batch.model import Batch, status_label
from grader.catalogue import load_catalogue

GRADES_FILE = "grades.csv"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def render_csv(batch: Batch) -> str:
    ids = [c.id for c in load_catalogue().checkpoints]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "total", "bonus", "status", *ids])
    for row in sorted(batch.rows, key=lambda r: r.id):
        graded = row.graded
        writer.writerow([
            row.id,
            _number(row.score if graded else None),
            _number(row.bonus if graded else None),
            status_label(row.status, batch.lang),
            *(_number(row.checkpoints.get(i) if graded else None) for i in ids),
        ])
    return buffer.getvalue()


def write_gradebook(batch: Batch, out: Path) -> Path:
    path = out / GRADES_FILE
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(render_csv(batch), encoding="utf-8")
    os.replace(tmp, path)
    return path
