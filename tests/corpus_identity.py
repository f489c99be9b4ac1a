"""The corpus's reports, to prove a change of the grader changes no grade and no feedback.

Every submission the project's tests grade (tests/grading_support.py's `graded_once`: the faulty,
broken, alternative and hostile submissions, the reference and the template, in both languages
and worker modes) leaves its report.json. Normalised (no times, no machine's paths, no marker
numbers, no protections, which describe the machine), each has a SHA-256; tests/corpus_reports.json
holds those of the last commit whose grades were reviewed (the line a failure's key names is left out:
editing a check's file moves it). A refactoring must keep them all.

    python tests/corpus_identity.py record GRADED_DIR   # write corpus_reports.json from a run's reports
    python tests/corpus_identity.py diff GRADED_DIR     # which reports differ from it, and how

GRADED_DIR is a test session's shared folder (`pytest --basetemp=DIR`: DIR/graded). A change
that is meant to change feedback records the new digests in the same commit, which says why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).with_name("corpus_reports.json")
VOLATILE_KEYS = {"started_at", "duration_s", "execution_time", "protections"}
_KEY_LINE = re.compile(r":\d+$")  # a failure's key ends with the line of its check, which edits of the file move
# What differs between two runs by chance: moto's random ids (tasks, subnets, security groups...) and the
# markers of tests/test_hostile.py and of the Gradescope stand-in.
RANDOM = [(re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
          (re.compile(r"\b(sg|subnet|vpc|eni|igw|rtb|acl|ami|i|r)-[0-9a-f]{8,17}\b"), r"\1-<id>"),
          (re.compile(r"\b(4871|5930)\d{3}\b"), "<marker>")]


def normalised(report: dict, graded_dir: Path) -> dict:
    """`report` without what differs between two runs of the same grader on the same files."""
    text = json.dumps(_without(report), ensure_ascii=False, sort_keys=True)
    for path, name in ((str(graded_dir), "<graded>"), (str(ROOT), "<project>")):
        text = text.replace(path, name)
    for pattern, replacement in RANDOM:
        text = pattern.sub(replacement, text)
    return json.loads(text)


def _without(data):
    if isinstance(data, dict):
        return {k: (_KEY_LINE.sub("", v) if k == "key" and isinstance(v, str) else _without(v))
                for k, v in data.items() if k not in VOLATILE_KEYS}
    if isinstance(data, list):
        return [_without(v) for v in data]
    return data


def digest(report: dict, graded_dir: Path) -> str:
    return hashlib.sha256(json.dumps(normalised(report, graded_dir), sort_keys=True).encode()).hexdigest()[:16]


def reports(graded_dir: Path) -> dict[str, dict]:
    """key -> report.json of every run in a session's graded folder."""
    found = {}
    for path in sorted(graded_dir.glob("*/reports/report.json")):
        try:
            found[path.parent.parent.name] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
    return found


def digests(graded_dir: Path) -> dict[str, str]:
    return {key: digest(report, graded_dir) for key, report in reports(graded_dir).items()}


def recorded() -> dict[str, str]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("record", "diff"))
    parser.add_argument("graded_dir", type=Path)
    args = parser.parse_args(argv)
    found = digests(args.graded_dir.resolve())
    if args.action == "record":
        SNAPSHOT.write_text(json.dumps(dict(sorted(found.items())), indent=1) + "\n", encoding="utf-8")
        print(f"{len(found)} reports recorded in {SNAPSHOT}")
        return 0
    expected = recorded()
    differing = sorted(k for k in found if k in expected and found[k] != expected[k])
    print(f"{len(found)} reports, {len(set(found) & set(expected))} recorded, {len(differing)} different")
    for key in differing:
        report = normalised(reports(args.graded_dir.resolve())[key], args.graded_dir.resolve())
        print(f"\n{key}:")
        for checkpoint in report.get("checkpoints", []):
            print(f"  {checkpoint['id']}: {checkpoint['status']} {checkpoint['score']} {checkpoint['feedback'][:2]}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
