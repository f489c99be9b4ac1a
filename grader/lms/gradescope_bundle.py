"""``ecs-lab gradescope-bundle OUT.zip``: Gradescope's autograder, in one zip.

    OUT.zip
      setup.sh            run once by Gradescope when it builds the image: Python >= 3.11 (base
                          image Ubuntu 24.04), bubblewrap, a virtualenv with ``<source>[grader]``
      run_autograder      run for every submission: ``python -m grader.lms.autograder``
      pyproject.toml, conftest.py, ecslab/, grader/, checks/, resources/   the suite's source

Never the solution (reference/) nor the project's tests (tests/). Gradescope unpacks the zip in
/autograder/source; both scripts honour ``AUTOGRADER_ROOT`` (default /autograder) and
``ECS_LAB_PYTHON`` (the Python to use), so that the bundle can be tried outside Gradescope.

Only the standard library at module level: ecs-lab builds its parser with this module.
"""

from __future__ import annotations

import argparse
import json
import shlex
import stat
import sys
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
SOURCE_FILES = ("pyproject.toml", "conftest.py")
SOURCE_DIRS = ("ecslab", "grader", "checks", "resources")
SKIPPED_PARTS = {"__pycache__", "reference", "tests"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".tmp")
BASE_IMAGE = "Ubuntu 24.04"
UNGRADED = ("exclude", "zero")  # grader.lms.gradescope.UNGRADED_POLICIES
BONUS = ("count", "ignore")  # grader.lms.gradescope.BONUS_POLICIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="le zip à écrire (à déposer dans Gradescope)")
    parser.add_argument("--ungraded", choices=UNGRADED, default="exclude",
                        help="points de contrôle que le tier offline ne peut pas vérifier : exclus du total "
                             "(exclude, défaut : note sur 65) ou comptés 0 (zero : note sur 100)")
    parser.add_argument("--bonus", choices=BONUS, default="count",
                        help="bonus : ajouté en plus du total (count, défaut) ou affiché sans compter (ignore)")


def run(args: argparse.Namespace, lang: str) -> int:
    out = Path(args.out).expanduser()
    problem = _check(out, lang)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from grader.catalogue import load_catalogue
    from grader.lms import gradescope

    policy = gradescope.Policy(args.ungraded, args.bonus)
    files = source_files(PROJECT)
    scripts = {"setup.sh": setup_script(lang),
               "run_autograder": run_script(lang, policy, gradescope.failure_results(
                   _no_results(lang), lang, policy))}
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in scripts.items():
                _add(archive, name, text.encode("utf-8"), executable=True)
            for relative in files:
                _add(archive, relative, (PROJECT / relative).read_bytes())
        tmp.replace(out)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        print(_t(lang, f"Erreur : impossible d'écrire {out} : {error}", f"Error: cannot write {out}: {error}"),
              file=sys.stderr)
        return 1
    catalogue = load_catalogue()
    offline = [c for c in catalogue.checkpoints if "offline" in c.tiers]
    verifiable = sum(c.points for c in offline if not c.bonus)
    total = verifiable if policy.ungraded == "exclude" else catalogue.max_points
    bonus = sum(c.points for c in offline if c.bonus)
    print(instructions(out, len(files), total, verifiable, bonus, policy, lang))
    return 0


def _check(out: Path, lang: str) -> str:
    if out.suffix.lower() != ".zip":
        return _t(lang, f"Erreur : {out} doit être un fichier .zip (Gradescope attend un zip).",
                  f"Error: {out} must be a .zip file (Gradescope expects a zip).")
    if out.is_dir():
        return _t(lang, f"Erreur : {out} est un dossier.", f"Error: {out} is a folder.")
    if not (PROJECT / "checks" / "offline").is_dir() or not (PROJECT / "pyproject.toml").is_file():
        return _t(lang, f"Erreur : les sources du correcteur sont introuvables dans {PROJECT} : lancez la commande "
                        "depuis une copie du projet installée avec « pip install -e \".[grader]\" ».",
                  f"Error: the grader's source is not in {PROJECT}: run the command from a copy of the project "
                  "installed with `pip install -e \".[grader]\"`.")
    return ""


def source_files(project: Path) -> list[str]:
    """The suite's files to grade with, relative to `project` (sorted; no links, caches or hidden files)."""
    found = [name for name in SOURCE_FILES if (project / name).is_file()]
    for folder in SOURCE_DIRS:
        for path in sorted((project / folder).rglob("*")):
            relative = path.relative_to(project)
            if (path.is_symlink() or not path.is_file() or path.name.endswith(SKIPPED_SUFFIXES)
                    or any(p in SKIPPED_PARTS or p.startswith(".") or p.endswith(".egg-info")
                           for p in relative.parts)):
                continue
            found.append(relative.as_posix())
    return found


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same files, the same zip
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, data)


# --- The two scripts --------------------------------------------------------------------------


def setup_script(lang: str) -> str:
    too_old = _t(
        lang,
        "ERREUR : l'autograder du lab 8 demande Python 3.11 ou plus récent, cette image a ${VERSION}. "
        f"Dans Gradescope (Configure Autograder), choisissez l'image de base {BASE_IMAGE}, puis reconstruisez.",
        "ERROR: the Lab 8 autograder needs Python 3.11 or newer, this image has ${VERSION}. "
        f"In Gradescope (Configure Autograder), choose the base image {BASE_IMAGE}, then rebuild.")
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (written by
# `ecs-lab gradescope-bundle`). Base image: {BASE_IMAGE} (Python >= 3.11 is needed).
# AUTOGRADER_ROOT (default /autograder) and ECS_LAB_PYTHON (default python3) can be overridden.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
PYTHON="${{ECS_LAB_PYTHON:-python3}}"

if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # bubblewrap: the sandbox the student's code runs in (grader/worker/sandbox.py).
  apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap ca-certificates
fi

VERSION="$("$PYTHON" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])' 2>/dev/null || echo "no Python")"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo {_bash_double(too_old)} >&2
  exit 1
fi

"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$SOURCE[grader]"
echo "ecs-lab autograder: $VERSION, $("$ROOT/venv/bin/python" -m pytest --version 2>&1)"
"""


def run_script(lang: str, policy, fallback: dict) -> str:
    settings = " ".join(shlex.quote(a) for a in (f"--lang={lang}", f"--ungraded={policy.ungraded}",
                                                  f"--bonus={policy.bonus}"))
    fallback_json = json.dumps(fallback, ensure_ascii=True, indent=1)
    return f"""#!/usr/bin/env bash
# Gradescope runs this for every submission (written by `ecs-lab gradescope-bundle`): grades the
# folder of $ROOT/submission that holds the student's files (offline tier) and writes
# $ROOT/results/results.json. Policy: ungraded checkpoints {policy.ungraded}, bonus {policy.bonus}.
# AUTOGRADER_ROOT (default /autograder) and ECS_LAB_PYTHON (default its virtualenv) can be overridden.
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{ECS_LAB_PYTHON:-$ROOT/venv/bin/python}}"
RESULTS="$ROOT/results"
mkdir -p "$RESULTS"
rm -f "$RESULTS/results.json"

if cd "$ROOT/source"; then
  "$PYTHON" -m grader.lms.autograder --root="$ROOT" {settings}
fi

# The last resort: Gradescope is never left without results.
if [ ! -s "$RESULTS/results.json" ]; then
  echo "ecs-lab autograder: no results written, writing a score of 0" >&2
  cat > "$RESULTS/results.json" <<'ECS_LAB_RESULTS'
{fallback_json}
ECS_LAB_RESULTS
fi
exit 0
"""


def _bash_double(text: str) -> str:
    """`text` in double quotes for bash, keeping ${VERSION} expanded."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


def _no_results(lang: str) -> str:
    return _t(
        lang,
        "Le correcteur n'a pas pu démarrer (installation de l'autograder incomplète) : ce n'est pas de votre fait. "
        "Prévenez l'enseignant ; ce 0 sera revu.",
        "The grader could not start (the autograder's installation is incomplete): this is not your doing. "
        "Tell the instructor; this 0 will be reviewed.")


# --- What the instructor reads ------------------------------------------------------------------


def instructions(out: Path, count: int, total: float, verifiable: float, bonus: float, policy, lang: str) -> str:
    """What to set in Gradescope. `total`: the assignment's points under the policy; `verifiable`:
    the required points the offline tier verifies (what a perfect solution earns); `bonus`: its bonus."""
    perfect = f"{verifiable + (bonus if policy.bonus == 'count' else 0):g} / {total:g}"
    if policy.bonus == "count":
        perfect += f" ({verifiable:g} + {bonus:g} bonus)"
    if lang == "en":
        ungraded = ("left out of the total (students are graded out of the points verifiable here)"
                    if policy.ungraded == "exclude" else "counted as 0 (students are graded out of 100)")
        bonus_line = (f"added on top (up to {bonus:g} points, a grade may exceed {total:g})"
                      if policy.bonus == "count" else "shown in the feedback, not counted")
        return f"""Gradescope autograder written: {out} (setup.sh, run_autograder and {count} files of the grader; \
neither reference/ nor tests/).
Checkpoints the offline tier cannot verify: {ungraded}; bonus: {bonus_line}; feedback language: {lang}.

In Gradescope (Programming Assignment, then Configure Autograder):
  1. Base image: {BASE_IMAGE} (the grader needs Python >= 3.11; setup.sh stops with a message on an older one).
  2. Upload {out.name} and let Gradescope build the image.
  3. Assignment total points (Settings): {total:g}.
  4. Students upload image_classifier_operations.py and s3_io.py (alone, or their folder: nested folders are fine).
  5. Try it: "Test Autograder" with reference/image_classifier_operations.py and reference/s3_io.py: \
{perfect}.
"""
    ungraded = ("exclus du total (note sur les points vérifiables ici)"
                if policy.ungraded == "exclude" else "comptés 0 (note sur 100)")
    bonus_line = (f"ajouté en plus (jusqu'à {bonus:g} points : une note peut dépasser {total:g})"
                  if policy.bonus == "count" else "affiché dans les retours, non compté")
    return f"""Autograder Gradescope écrit : {out} (setup.sh, run_autograder et {count} fichiers du correcteur ; \
ni reference/, ni tests/).
Points de contrôle que le tier offline ne peut pas vérifier : {ungraded} ; bonus : {bonus_line} ; \
langue des retours : {lang}.

Dans Gradescope (Programming Assignment, puis Configure Autograder) :
  1. Image de base : {BASE_IMAGE} (le correcteur demande Python >= 3.11 ; setup.sh s'arrête avec un message sinon).
  2. Déposez {out.name} et laissez Gradescope construire l'image.
  3. Total des points du devoir (Settings) : {total:g}.
  4. Les étudiants déposent image_classifier_operations.py et s3_io.py (seuls, ou leur dossier : les sous-dossiers \
sont acceptés).
  5. Essayez-le : « Test Autograder » avec reference/image_classifier_operations.py et reference/s3_io.py : \
{perfect}.
"""


def _t(lang: str, fr: str, en: str) -> str:
    return en if lang == "en" else fr
