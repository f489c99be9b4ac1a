"""Finding the submissions of a class, and the files of each that are graded.

A SUBMISSION given to ``ecs-lab grade`` is a folder, a zip file, or a folder of those (a
Gradescope export, a GitHub Classroom clone of every repository). Inside one submission the
student's two files may sit in nested folders (``lab8/student_template/s3_io.py``): the folder
graded is the one that holds them (both preferred, then the shallowest). Only those files, and
the ``resources/`` the grader reads beside them, are copied ("staged") into the batch's own
folder: the grade then depends on nothing else, a zip is never extracted whole, and a symbolic
link is never followed (it could point at the instructor's files).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ecslab.facts import STUDENT_MODULES

STUDENT_FILES = tuple(f"{module}.py" for module in STUDENT_MODULES)
# What the grader reads beside the student's files (grader/submission.py: Submission.resource).
RESOURCE_FILES = ("resources/infrastructure.yaml", "resources/iam-roles.yaml",
                  "resources/web-service-task-definition.json")
SKIPPED_DIRS = {"__MACOSX", "__pycache__", "node_modules", "venv", "site-packages", "reports"}
GRADESCOPE_METADATA = "submission_metadata.yml"
MAX_DEPTH = 6  # folders below a submission's root searched for the student's files
MAX_ENTRIES = 20_000  # files looked at in one submission (a cloned virtualenv, a huge export...)
MAX_FILE_BYTES = 8 * 1024 * 1024  # a larger "student file" is not staged (the row says why)


class ArchiveError(Exception):
    """A zip that cannot be read (corrupt, encrypted, not a zip, a file too large)."""


@dataclass
class Source:
    """One submission of the batch, before grading."""

    id: str
    path: Path
    kind: str  # "folder" or "zip"


@dataclass
class Staged:
    """The files of one submission, copied where the grader reads them."""

    folder: Path  # what `pytest --submission=` grades
    files: list[str] = field(default_factory=list)  # relative to the source, as the instructor sees them
    digest: str = ""  # sha256 of the staged files' names and contents

    @property
    def complete(self) -> bool:
        """At least one of the student's files: otherwise there is nothing to grade."""
        return any(PurePosixPath(f).name in STUDENT_FILES for f in self.files)


# --- The class: which paths are submissions ---------------------------------------------------


def discover(paths: Iterable[Path], reserved: Iterable[str] = ()) -> list[Source]:
    """The submissions under `paths`, each with an id unique in the batch and not `reserved`."""
    sources: list[Source] = []
    for path in paths:
        if path.is_file():
            sources.append(Source("", path, "zip"))
        elif _is_class_folder(path):
            sources += [Source("", child, "zip" if child.is_file() else "folder") for child in _children(path)]
        else:
            sources.append(Source("", path, "folder"))
    taken = set(reserved)
    for source in sources:
        source.id = _unique(_safe_id(source.path.stem if source.kind == "zip" else source.path.name), taken)
    return sources


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and p.name not in SKIPPED_DIRS and not p.is_symlink()
                  and (p.is_dir() or p.suffix.lower() == ".zip"))


def _is_class_folder(folder: Path) -> bool:
    """A folder of submissions: a Gradescope export, or two children or more that hold student files.
    A folder holding the files itself (or in student_template/) is one submission."""
    if any((folder / name).is_file() or (folder / "student_template" / name).is_file() for name in STUDENT_FILES):
        return False
    if (folder / GRADESCOPE_METADATA).is_file():
        return True
    holding = 0
    for child in _children(folder):
        try:
            found = _choose(_zip_names(child) if child.is_file() else _walk(child)) is not None
        except ArchiveError:
            found = True  # an unreadable zip among submissions is still a submission
        holding += found
        if holding >= 2:
            return True
    return False


def _safe_id(name: str) -> str:
    cleaned = re.sub(r"[^\w.-]+", "_", name, flags=re.ASCII).strip("._") or "submission"
    return cleaned[:80]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


# --- One submission: which folder is graded ---------------------------------------------------


def find_submission_files(root: Path) -> tuple[Path | None, list[Path]]:
    """The folder to grade under `root` (None when no student file is there) and its files."""
    chosen = _choose(_walk(root))
    if chosen is None:
        return None, []
    folder = root.joinpath(*chosen.parts)
    return folder, [folder / name for name in (*STUDENT_FILES, *RESOURCE_FILES) if _regular(folder / name)]


def _choose(paths: Iterable[PurePosixPath]) -> PurePosixPath | None:
    """Of the folders holding student files: both files first, then the shallowest, then by name."""
    holders: dict[PurePosixPath, int] = {}
    for path in paths:
        if path.name in STUDENT_FILES:
            holders[path.parent] = holders.get(path.parent, 0) + 1
    if not holders:
        return None
    return min(holders, key=lambda folder: (-holders[folder], len(folder.parts), str(folder)))


def _walk(root: Path) -> Iterator[PurePosixPath]:
    """Relative paths of the regular files under `root`, skipping links, hidden and tool folders."""
    seen = 0
    for current, dirs, files in os.walk(root, followlinks=False):
        relative = PurePosixPath(Path(current).relative_to(root).as_posix())
        depth = 0 if str(relative) == "." else len(relative.parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS
                         and depth < MAX_DEPTH and not os.path.islink(os.path.join(current, d)))
        for name in sorted(files):
            seen += 1
            if seen > MAX_ENTRIES:
                return
            yield relative / name if depth else PurePosixPath(name)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


# --- Zips --------------------------------------------------------------------------------------


def _zip_names(path: Path) -> list[PurePosixPath]:
    try:
        with zipfile.ZipFile(path) as archive:
            return [PurePosixPath(name) for name, _info in _zip_files(archive)]
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise ArchiveError(str(error) or type(error).__name__) from error


def _zip_files(archive: zipfile.ZipFile) -> Iterator[tuple[str, zipfile.ZipInfo]]:
    """Regular files of the archive, with safe relative names (no links, no `..`, no hidden parts)."""
    for info in archive.infolist()[:MAX_ENTRIES]:
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            continue
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if not parts or any(p in ("..", "") or p.startswith(".") or p in SKIPPED_DIRS for p in parts[:-1]) \
                or parts[0] == "/" or len(parts) > MAX_DEPTH + 1:
            continue
        yield "/".join(parts), info


# --- Staging -----------------------------------------------------------------------------------


def stage(source: Source, target: Path) -> Staged:
    """Copy the submission's graded files into `target` (emptied first); raises ArchiveError."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    contents = _zip_contents(source.path) if source.kind == "zip" else _folder_contents(source.path)
    staged = Staged(folder=target)
    digest = hashlib.sha256()
    for relative_to_folder, shown, data in contents:
        destination = target / relative_to_folder
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        staged.files.append(shown)
        digest.update(f"{relative_to_folder}\0{len(data)}\0".encode())
        digest.update(data)
    staged.digest = digest.hexdigest()
    return staged


def _folder_contents(root: Path) -> list[tuple[str, str, bytes]]:
    folder, files = find_submission_files(root)
    if folder is None:
        return []
    contents = []
    for file in files:
        relative = file.relative_to(folder).as_posix()
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ArchiveError(f"{file.relative_to(root).as_posix()}: > {MAX_FILE_BYTES // 2**20} MiB")
        contents.append((relative, file.relative_to(root).as_posix(), file.read_bytes()))
    return contents


def _zip_contents(path: Path) -> list[tuple[str, str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = dict(_zip_files(archive))
            chosen = _choose(PurePosixPath(name) for name in members)
            if chosen is None:
                return []
            prefix = "" if str(chosen) == "." else f"{chosen}/"
            contents = []
            for name in (*STUDENT_FILES, *RESOURCE_FILES):
                info = members.get(prefix + name)
                if info is not None:
                    contents.append((name, prefix + name, _read_member(archive, info)))
            return contents
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError) as error:
        # RuntimeError: an encrypted member; the others: a corrupt or truncated archive
        raise ArchiveError(str(error) or type(error).__name__) from error


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, refusing more than MAX_FILE_BYTES whatever its header claims (zip bombs)."""
    if info.file_size > MAX_FILE_BYTES:
        raise ArchiveError(f"{info.filename}: > {MAX_FILE_BYTES // 2**20} MiB")
    with archive.open(info) as member:
        data = member.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ArchiveError(f"{info.filename}: > {MAX_FILE_BYTES // 2**20} MiB")
    return data
