"""A new checkpoint's files: its entry in the catalogue and one check module per tier that verifies it.

    python -m grader.scaffold ID --part part2 --step 11 --points 5 --tiers offline aws \
        --title-fr "…" --title-en "…" [--uses image_classifier_operations] [--bonus]

The modules it writes hold one check that fails until it is written (a stub never grades anything),
so the new checkpoint is visibly unfinished in every report and in the project's tests. What is left
to do by hand is printed: the checks themselves, the handout's mention of the id, a faulty submission
that loses exactly it (tests/submissions/faults.py), and the points (the required ones total 100).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.catalogue import CATALOGUE_FILE, CatalogueError, load_catalogue
from grader.project import CHECKS_DIR
from grader.tiers.aws.stages import STAGES
from grader.tiers.base import NAMES

MODULE = '''"""Checkpoint {id} (step {step}): {title_en}.

What this checkpoint verifies, on the {tier} tier, and from which evidence (the requests the scorer's
servers received, the files it wrote): not written yet.
"""

{imports}from grader.feedback import fail
{stage}

def test_{id}_is_written():
    fail("Vérification pas encore écrite (grader.scaffold) : ce point de contrôle ne peut pas être obtenu.",
         "Check not written yet (grader.scaffold): this checkpoint cannot be earned.")
'''


def entry(args: argparse.Namespace) -> str:
    """The catalogue's entry, in the file's own style (flow mappings, one key a line)."""
    lines = [f"  - id: {args.id}", f"    part: {args.part}", f'    step: "{args.step}"',
             f"    points: {args.points:g}"]
    if args.bonus:
        lines.append("    bonus: true")
    lines += [f"    title: {{fr: {_quoted(args.title_fr)}, en: {_quoted(args.title_en)}}}",
              f"    tiers: [{', '.join(args.tiers)}]", f"    uses: [{', '.join(args.uses)}]"]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scaffold(args: argparse.Namespace, catalogue_file: Path = CATALOGUE_FILE, checks_dir: Path = CHECKS_DIR) -> list[Path]:
    """Append the entry, write the modules; nothing is written when the result would not load."""
    catalogue = load_catalogue(catalogue_file)
    if args.id in catalogue.ids():
        raise CatalogueError(f"checkpoint {args.id!r} already exists")
    modules = [checks_dir / tier / f"test_{args.id}.py" for tier in args.tiers]
    existing = [m for m in modules if m.exists()]
    if existing:
        raise CatalogueError(f"{existing[0]} already exists")
    text = catalogue_file.read_text(encoding="utf-8")
    updated = text.rstrip("\n") + "\n" + entry(args)
    trial = catalogue_file.with_suffix(".yaml.new")
    trial.write_text(updated, encoding="utf-8")
    try:
        load_catalogue.__wrapped__(trial)  # the new entry must load: ids, parts, tiers
    except (CatalogueError, KeyError, TypeError, ValueError) as error:
        trial.unlink()
        raise CatalogueError(f"the new entry would not load: {error}") from error
    trial.replace(catalogue_file)
    load_catalogue.cache_clear()
    for tier, module in zip(args.tiers, modules):
        stage = (f'\npytestmark = pytest.mark.stage("{args.stage or _default_stage(args.part)}")  # --stage\n'
                 if tier == "aws" else "")
        module.write_text(MODULE.format(id=args.id, step=args.step, title_en=args.title_en, tier=tier,
                                        imports="import pytest\n\n" if stage else "", stage=stage),
                          encoding="utf-8")
    return [catalogue_file, *modules]


def _default_stage(part: str) -> str:
    """The aws tier reads Part 1 before step 8's clean-up, Part 2 and the bonus at the end of Part 2."""
    return "part1" if part == "part1" else "part2"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader.scaffold", description=__doc__.split("\n\n")[0])
    p.add_argument("id", help="the checkpoint's id (an identifier: also its pytest marker)")
    p.add_argument("--part", required=True, help="a part of grader/catalogue.yaml (part1, part2, bonus)")
    p.add_argument("--step", required=True, help="its step in LAB.md (\"11\", \"Bonus 2\")")
    p.add_argument("--points", required=True, type=float)
    p.add_argument("--tiers", required=True, nargs="+", choices=NAMES)
    p.add_argument("--title-fr", required=True)
    p.add_argument("--title-en", required=True)
    p.add_argument("--uses", nargs="*", default=[], help="the submission's files its offline checks run")
    p.add_argument("--bonus", action="store_true")
    p.add_argument("--stage", choices=STAGES, help="when the aws tier verifies it (default: from the part)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        written = scaffold(args)
    except CatalogueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("written: " + ", ".join(str(p) for p in written))
    print("left to do: the checks (each module fails until then); the id in LAB.md; a faulty submission "
          "that loses exactly it (tests/submissions/faults.py); the points (required ones total 100).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
