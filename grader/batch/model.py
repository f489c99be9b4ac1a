"""What a batch produces, in one file: ``OUT/batch.json`` (read by the gradebook, the class
report and the next run, which reuses the rows whose files did not change).

    OUT/batch.json                 this model
    OUT/grades.csv                 the gradebook (grader.batch.gradebook)
    OUT/class-report.html          the class report (grader.batch.class_report)
    OUT/<id>/report.{html,md,json}, results.json, grading.log   one submission's reports
    OUT/.submissions/<id>/         the files that were graded (copied from the submission)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.feedback import Text

BATCH_FILE = "batch.json"
STAGING_DIR = ".submissions"
FORMAT = 1

# A row's status: graded, or why it has no grade (the reason says more).
GRADED = "graded"
MISSING_FILES = "missing_files"
BAD_ARCHIVE = "bad_archive"
TIMEOUT = "timeout"
GRADER_ERROR = "grader_error"
PENDING = "pending"  # to grade in this run (what an interrupted run leaves)
STATUSES = {
    GRADED: Text("noté", "graded"),
    MISSING_FILES: Text("fichiers manquants", "missing files"),
    BAD_ARCHIVE: Text("archive illisible", "unreadable archive"),
    TIMEOUT: Text("délai dépassé", "time limit exceeded"),
    GRADER_ERROR: Text("erreur du correcteur", "grader error"),
    PENDING: Text("pas encore noté", "not graded yet"),
}


def status_label(status: str, lang: str) -> str:
    return STATUSES[status](lang)


@dataclass
class Row:
    """One submission of the batch."""

    id: str  # unique in the batch, safe as a folder name
    source: str  # what the instructor gave (a folder or a zip), as given
    status: str = GRADED
    reason: str = ""  # why there is no grade, in the batch's language
    files: list[str] = field(default_factory=list)  # the files used, relative to the source
    staged: str = ""  # OUT-relative folder holding the graded copies of those files
    report_dir: str = ""  # OUT-relative folder of the four reports (graded rows)
    digest: str = ""  # content hash of the graded files and of the grading settings
    score: float | None = None  # required points (out of max_score)
    max_score: float | None = None
    graded_max: float | None = None  # the part of max_score this tier could verify
    bonus: float | None = None
    bonus_max: float | None = None
    checkpoints: dict[str, float | None] = field(default_factory=dict)  # id -> points (None: not graded)
    duration_s: float = 0.0
    timeout_s: float = 0.0  # the limit it ran under
    reused: bool = False  # taken from the previous run (same files, same settings)
    attempts: int = 1  # gradings started (on ECS, 2 when the task of the first one stopped)
    graded_by: str = ""  # the ECS task(s) that graded it (--on ecs)

    @property
    def graded(self) -> bool:
        return self.status == GRADED


@dataclass
class Batch:
    tier: str
    lang: str
    generated_at: str
    settings: dict  # what changes a grade besides the files (tier, grader fingerprint...)
    rows: list[Row] = field(default_factory=list)
    duration_s: float = 0.0
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "Batch":
        fields = {k: v for k, v in data.items() if k != "rows"}
        return cls(**fields, rows=[Row(**row) for row in data.get("rows", [])])

    def row(self, row_id: str) -> Row | None:
        return next((row for row in self.rows if row.id == row_id), None)


def write_batch(batch: Batch, out: Path) -> Path:
    path = out / BATCH_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(batch.to_json(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_batch(out: Path) -> Batch | None:
    """The previous run's batch in OUT, or None (none, unreadable or another format)."""
    try:
        data = json.loads((out / BATCH_FILE).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        return Batch.from_dict(data)
    except (OSError, ValueError, TypeError):
        return None
