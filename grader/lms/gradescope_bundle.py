"""``ecs-lab gradescope-bundle OUT.zip``: Gradescope's autograder, in one zip.

    OUT.zip
      setup.sh            run once by Gradescope when it builds the image: a Python >= 3.11, libseccomp,
                          a virtualenv with ``<source>[offline]``, the grader made root's alone, then
                          what a first run would do (cfn-lint's verdicts, a trial grade of the template)
      run_autograder      run for every submission: ``python -m grader.lms.autograder``
      pyproject.toml, conftest.py, ecslab/, standin/, grader/, checks/, resources/, student_template/   the source

Never the solution (reference/) nor the project's tests (tests/). Gradescope unpacks the zip in
/autograder/source; both scripts honour ``AUTOGRADER_ROOT`` (default /autograder) and
``ECS_LAB_PYTHON`` (the Python to use), so that the bundle can be tried outside Gradescope.

Only the standard library at module level: ecs-lab builds its parser with this module.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import stat
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from grader.catalogue import load_catalogue
from grader.project import PROJECT

if TYPE_CHECKING:
    from grader.lms.gradescope import Policy

SOURCE_FILES = ("pyproject.toml", "conftest.py")
SOURCE_DIRS = ("ecslab", "standin", "grader", "checks", "resources", "student_template")
SKIPPED_PARTS = {"__pycache__", "reference", "tests"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".tmp")
BASE_IMAGE = "Ubuntu 24.04"
UNGRADED = ("exclude", "zero")  # grader.lms.gradescope.UNGRADED_POLICIES
BONUS = ("count", "ignore")  # grader.lms.gradescope.BONUS_POLICIES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="le zip à écrire (à déposer dans Gradescope)")
    parser.add_argument("--ungraded", choices=UNGRADED, default="exclude",
                        help=ungraded_help("fr"))
    parser.add_argument("--bonus", choices=BONUS, default="count",
                        help="bonus : ajouté en plus du total (count, défaut) ou affiché sans compter (ignore)")


def ungraded_help(lang: str) -> str:
    catalogue = load_catalogue()
    offline, total = f"{catalogue.points_on('offline'):g}", f"{catalogue.max_points:g}"
    return _t(lang, "points de contrôle que le tier offline ne peut pas vérifier : exclus du total "
                    f"(exclude, défaut : note sur {offline}) ou comptés 0 (zero : note sur {total})",
              "checkpoints the offline tier cannot verify: left out of the total (exclude, default: graded "
              f"out of {offline}) or counted as 0 (zero: graded out of {total})")


def run(args: argparse.Namespace, lang: str) -> int:
    out = Path(args.out).expanduser()
    problem = _check(out, lang)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from grader.lms import gradescope

    policy = gradescope.Policy(args.ungraded, args.bonus)
    try:
        files = write_bundle(out, lang, policy)
    except OSError as error:
        print(_t(lang, f"Erreur : impossible d'écrire {out} : {error}", f"Error: cannot write {out}: {error}"),
              file=sys.stderr)
        return 1
    catalogue = load_catalogue()
    verifiable, bonus = catalogue.points_on("offline"), catalogue.points_on("offline", bonus=True)
    total = verifiable if policy.ungraded == "exclude" else catalogue.max_points
    print(instructions(out, len(files), total, verifiable, bonus, policy, lang))
    return 0


def write_bundle(out: Path, lang: str, policy: Policy | None = None) -> list[str]:
    """Write the zip (the same files, the same bytes); returns the grader's files it holds."""
    from grader.lms import gradescope

    policy = policy or gradescope.Policy(UNGRADED[0], BONUS[0])
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
    finally:
        tmp.unlink(missing_ok=True)
    return files


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
    """The suite's files to grade with, relative to `project` (sorted; no caches or hidden files, no
    linked file; a linked folder, ecslab/resources, is held as copies of its files)."""
    found = [name for name in SOURCE_FILES if (project / name).is_file()]
    for folder in SOURCE_DIRS:
        paths = [Path(root) / name for root, _dirs, names in os.walk(project / folder, followlinks=True)
                 for name in names]
        for path in sorted(paths):
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
    no_python = _t(
        lang,
        "ERREUR : l'autograder du lab 8 demande Python 3.11 ou plus récent ; cette image a ${VERSION}, et ni apt "
        f"(python3.11) ni uv n'ont pu en installer un. Dans Gradescope (Configure Autograder), choisissez l'image "
        f"de base {BASE_IMAGE}, puis reconstruisez.",
        "ERROR: the Lab 8 autograder needs Python 3.11 or newer; this image has ${VERSION}, and neither apt "
        f"(python3.11) nor uv could install one. In Gradescope (Configure Autograder), choose the base image "
        f"{BASE_IMAGE}, then rebuild.")
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (written by
# `ecs-lab gradescope-bundle`); every submission is then graded in a fresh container of that image,
# so this does all that a first grading run would otherwise do. Any Ubuntu or Debian base image:
# a Python >= 3.11 is provided where the image's is older (apt's python3.11, else uv's).
# AUTOGRADER_ROOT (default /autograder) and ECS_LAB_PYTHON (a Python >= 3.11) can be overridden.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SOURCE="$ROOT/source"
STARTED=$SECONDS
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

apt_install() {{  # packages...: true when apt-get installed them all
  command -v apt-get >/dev/null 2>&1 || return 1
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || {{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }}
}}
new_enough() {{ "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; }}

# libseccomp: the student's code gets a seccomp filter; bubblewrap: used where namespaces are allowed
# (a Gradescope container refuses them: the grader then confines the code without namespaces).
apt_install ca-certificates libseccomp2 bubblewrap python3 python3-venv \
  || echo "ecs-lab autograder: apt-get could not install libseccomp2/bubblewrap (the report says what applies)"

PYTHON="${{ECS_LAB_PYTHON:-}}"
if [ -z "$PYTHON" ]; then
  for candidate in python3 python3.14 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && new_enough "$candidate"; then PYTHON=$(command -v "$candidate"); break; fi
  done
fi
if [ -z "$PYTHON" ] && apt_install python3.11 python3.11-venv && new_enough python3.11; then
  PYTHON=$(command -v python3.11)  # Ubuntu 22.04 (universe), Debian 12
fi
if [ -z "$PYTHON" ] && apt_install python3-venv; then
  # python-build-standalone through uv, in a folder every user can read (the student's code runs as another user)
  python3 -m venv /opt/ecs-lab-uv && /opt/ecs-lab-uv/bin/python -m pip install --quiet uv \
    && UV_PYTHON_INSTALL_DIR=/opt/ecs-lab-python /opt/ecs-lab-uv/bin/uv python install 3.11 >/dev/null \
    && PYTHON=$(UV_PYTHON_INSTALL_DIR=/opt/ecs-lab-python /opt/ecs-lab-uv/bin/uv python find 3.11) || PYTHON=""
fi
if [ -z "$PYTHON" ] || ! new_enough "$PYTHON"; then
  VERSION="$("${{ECS_LAB_PYTHON:-python3}}" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])' 2>/dev/null \
             || echo "no Python")"
  echo {_bash_double(no_python)} >&2
  exit 1
fi

# The grader and what grading offline needs, nothing more (not the local tier's packages).
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet "$SOURCE[offline]"
"$ROOT/venv/bin/python" -m compileall -q -j 0 "$ROOT/venv/lib" >/dev/null 2>&1 || true

# The virtual clock's library (grader/worker/clock): built once here, with a C compiler installed for it.
command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev || true
(cd "$ROOT" && "$ROOT/venv/bin/python" -m grader.worker.clock "$ROOT/timeshim") \
  || echo "ecs-lab autograder: no virtual clock library here; the grader's Python-level clock will be used"

# The grader is root's alone: the student's code runs as another user, which can read neither the
# checks nor the installed grader, even where Landlock is refused.
SITE=$("$ROOT/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
chmod 0711 "$ROOT"
chmod -R go-rwx "$SOURCE"
for package in grader ecslab standin checks; do
  if [ -e "$SITE/$package" ]; then chmod -R go-rwx "$SITE/$package"; fi
done

# cfn-lint's verdicts on the lab's templates, then a trial grade of the template (prints how the
# student's code will run here); a failure stops the image's build, with the reason.
(cd "$ROOT" && ECS_LAB_TIMESHIM_DIR="$ROOT/timeshim" "$ROOT/venv/bin/python" -m grader.lms.autograder --prepare \
   --template="$SOURCE/student_template" --lang={lang})
echo "ecs-lab autograder ready: $("$ROOT/venv/bin/python" --version), environment $(du -sh "$ROOT/venv" | cut -f1), \
setup in $((SECONDS - STARTED)) s"
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

# The grader setup.sh installed (never a copy in a folder the run could reach first).
if cd "$ROOT"; then
  ECS_LAB_TIMESHIM_DIR="$ROOT/timeshim" "$PYTHON" -I -m grader.lms.autograder --root="$ROOT" {settings}
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
  1. Base image: the default Ubuntu 22.04 or {BASE_IMAGE} (setup.sh installs Python 3.11 where the image's is older).
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
  1. Image de base : Ubuntu 22.04 (par défaut) ou {BASE_IMAGE} (setup.sh installe Python 3.11 si celui de l'image est plus ancien).
  2. Déposez {out.name} et laissez Gradescope construire l'image.
  3. Total des points du devoir (Settings) : {total:g}.
  4. Les étudiants déposent image_classifier_operations.py et s3_io.py (seuls, ou leur dossier : les sous-dossiers \
sont acceptés).
  5. Essayez-le : « Test Autograder » avec reference/image_classifier_operations.py et reference/s3_io.py : \
{perfect}.
"""


def _t(lang: str, fr: str, en: str) -> str:
    return en if lang == "en" else fr
