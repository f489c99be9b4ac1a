"""Slim the classifier's virtual environment down to what the classifier can use.

Run by the builder stage of the Dockerfile, after ``pip install -r requirements.txt``::

    python -B slim_venv.py /opt/venv [--dry-run]

The classifier runs one ONNX model (onnxruntime, NumPy), decodes images (Pillow),
downloads them (requests) and, in S3 mode only, calls S3 through boto3. The pinned
wheels bring much more: botocore describes some 400 AWS services, onnxruntime ships
its C API library and model-conversion tooling, NumPy its test suites, build tools and
typing stubs. None of it is imported by the classifier or by the libraries it uses.

Where it can, the script lists what it *keeps* (botocore's and boto3's service models,
the venv's bin/); elsewhere it lists what it removes, one reason each. Everything it
expects must be there, or it fails before removing anything: a version bump that moves
or renames a folder stops the build instead of silently keeping the weight. Then update
these lists, rebuild, and check the image (tests/test_classifier_images.py).

Standard library only. Prints what it removed, with sizes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

# -- what is kept -----------------------------------------------------------------------------
# In these folders (relative to site-packages) only the listed sub-folders stay; every file
# directly in the folder stays too. A service model is what ``client(<service>)`` loads.
KEEP_SUBDIRS: dict[str, dict[str, str]] = {
    "botocore/data": {
        "s3": "the S3 client of S3 mode (classifier.py, the student's s3_io.py)",
        # Clients that botocore's credential providers create themselves (credentials.py, tokens.py):
        "sts": "AssumeRole / AssumeRoleWithWebIdentity credentials (role_arn in a profile, IRSA-style tokens)",
        "sso": "SSO credentials (SSOCredentialFetcher)",
        "sso-oidc": "refresh of SSO tokens (tokens.SSOTokenProvider)",
        "signin": "`aws login` credentials (LoginCredentialFetcher)",
    },
    "boto3/data": {
        "s3": "boto3.resource('s3'), should a student's s3_io.py use a resource",
    },
}
# Files those folders must keep (any other file directly in them is kept as well).
REQUIRED_FILES = (
    "botocore/data/endpoints.json",
    "botocore/data/partitions.json",
    "botocore/data/sdk-default-configuration.json",
    "botocore/data/_retry.json",
)
# In the venv's bin/ only the interpreter links stay (python, python3, python3.X) and
# `activate`; the console scripts (f2py, numpy-config, onnxruntime_test, jp.py, normalizer,
# idna, ...) are tools, some of them of packages removed below. PATH already has bin/.
BIN_KEEP_EXTRA = ("activate",)

# -- what is removed -----------------------------------------------------------------------
# Paths (globs) relative to site-packages; each must match at least once.
# libonnxruntime.so (35 MB, for programs using the C API): onnxruntime_pybind11_state*.so
# does not link it (ldd) nor name it (strings), and /proc/self/maps after an inference shows
# only that module and libonnxruntime_providers_shared.so (kept) loaded from capi/.
REMOVE: dict[str, str] = {
    "onnxruntime/tools": "model conversion, profiling and test tools (python -m onnxruntime.tools ...)",
    "onnxruntime/transformers": "optimizer and benchmarks of transformer models",
    "onnxruntime/quantization": "model quantization tooling",
    "onnxruntime/capi/libonnxruntime.so.*": "the C API library, for C/C++ programs: the Python module "
                                            "(onnxruntime_pybind11_state) embeds the runtime and never loads it",
    "numpy/f2py": "Fortran wrapper generator",
    "numpy/distutils": "legacy build system for extension modules",
    "numpy/_core/include": "C headers (numpy.get_include()), to compile extension modules",
    "numpy/_core/lib": "static npymath library and pkg-config files, to compile extension modules",
    "numpy/_pyinstaller": "PyInstaller hook",
}
# Every folder with one of these names under these packages (at least one expected each).
REMOVE_NAMED_DIRS: dict[str, tuple[str, ...]] = {
    "tests": ("numpy",),  # test suites
}
# Files with these suffixes anywhere in site-packages: read by type checkers and compilers only.
REMOVE_SUFFIXES = (".pyi", ".pxd")


class SlimError(Exception):
    """Something the lists expect is not in the venv."""


@dataclass(frozen=True)
class Removal:
    path: Path
    rule: str  # the line of the lists it comes from (the report adds sizes up per rule)


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise SlimError(f"expected one lib/python3.X/site-packages in {venv}, found {len(found)}")
    return found[0]


def _one_level(folder: Path, keep: set[str], what: str) -> list[Path]:
    """Entries of ``folder`` not in ``keep``; every kept name must exist."""
    if not folder.is_dir():
        raise SlimError(f"{what}: folder missing")
    missing = sorted(name for name in keep if not (folder / name).exists() and not (folder / name).is_symlink())
    if missing:
        raise SlimError(f"{what}: kept entries missing: {', '.join(missing)}")
    return [entry for entry in sorted(folder.iterdir()) if entry.name not in keep]


def plan(venv: Path) -> list[Removal]:
    """What to remove from ``venv``; raises SlimError (nothing removed) when an expected path is missing."""
    site = site_packages(venv)
    removals: list[Removal] = []
    for rel, kept in KEEP_SUBDIRS.items():
        for entry in _one_level(site / rel, set(kept), rel):
            if entry.is_dir() and not entry.is_symlink():
                removals.append(Removal(entry, f"{rel}/ (other services)"))
    for rel in REQUIRED_FILES:
        if not (site / rel).is_file():
            raise SlimError(f"{rel}: required file missing")
    python = site.parent.name  # python3.11
    bin_keep = {"python", python.split(".")[0], python, *BIN_KEEP_EXTRA}
    removals += [Removal(entry, "bin/ (console scripts)")
                 for entry in _one_level(venv / "bin", bin_keep, "bin")]
    for pattern in REMOVE:
        matches = sorted(site.glob(pattern))
        if not matches:
            raise SlimError(f"{pattern}: expected, not found")
        removals += [Removal(path, pattern) for path in matches]
    for name, packages in REMOVE_NAMED_DIRS.items():
        for package in packages:
            matches = sorted(p for p in (site / package).rglob(name) if p.is_dir())
            if not matches:
                raise SlimError(f"{package}/**/{name}: expected, not found")
            removals += [Removal(path, f"{package}/**/{name}") for path in matches]
    removals += [Removal(path, "*" + ", *".join(REMOVE_SUFFIXES)) for path in sorted(site.rglob("*"))
                 if path.suffix in REMOVE_SUFFIXES and path.is_file()]
    # Drop what lies inside another removal (numpy/f2py/tests, stubs in removed folders).
    paths = {r.path for r in removals}
    return [r for r in removals if not any(parent in paths for parent in r.path.parents)]


def size_of(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def apply(removals: list[Removal], dry_run: bool = False) -> dict[str, int]:
    """Remove (unless ``dry_run``); return the bytes removed per rule."""
    totals: dict[str, int] = {}
    for removal in removals:
        totals[removal.rule] = totals.get(removal.rule, 0) + size_of(removal.path)
        if dry_run:
            continue
        if removal.path.is_dir() and not removal.path.is_symlink():
            shutil.rmtree(removal.path)
        else:
            removal.path.unlink()
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    args = parser.parse_args(argv)
    try:
        removals = plan(args.venv)
    except SlimError as exc:
        print(f"slim_venv: {exc}. Update the lists of {Path(__file__).name} "
              "(a new version of a package?).", file=sys.stderr)
        return 1
    totals = apply(removals, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for key, size in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"slim_venv: {verb} {size / 1e6:6.1f} MB  {key}")
    print(f"slim_venv: {verb} {sum(totals.values()) / 1e6:6.1f} MB in all ({len(removals)} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
