"""The files a fresh clone of this checkout would hold: what git tracks plus what it would track
(new files not ignored), links kept as links, as `git clone` keeps them."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(destination: Path) -> Path:
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    for name in sorted(set(filter(None, listing.decode().split("\0")))):
        source, target = ROOT / name, destination / name
        if not (source.is_symlink() or source.is_file()):
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination
