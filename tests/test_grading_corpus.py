"""The grading corpus itself (tests/submissions/faults.py): every patch applies, coverage is complete.

Fast: nothing is graded here (tests/test_grading.py grades the corpus).
"""

from __future__ import annotations

import ast
import json

import pytest
import yaml
from submissions.faults import (
    ALTERNATIVES,
    BROKEN,
    BUNDLES,
    CORPUS,
    FAULTY,
    GRADED,
    OFFLINE_CHECKPOINTS,
    OPS,
    REFERENCE,
    RESOURCES,
    S3_IO,
    VARIANTS,
    PatchError,
    Replace,
    ReplaceDef,
    Submission,
    bundle,
    main,
    materialise,
)


def test_names_are_unique():
    names = [s.name for s in CORPUS]
    assert len(names) == len(set(names))


def test_every_offline_checkpoint_has_a_fault_that_costs_only_it():
    covered = {next(iter(s.loses)) for s in FAULTY if len(s.loses) == 1}
    assert covered == OFFLINE_CHECKPOINTS, sorted(OFFLINE_CHECKPOINTS - covered)


def test_alternatives_lose_nothing_and_faults_lose_something():
    assert all(not s.loses for s in ALTERNATIVES)
    assert all(s.loses for s in FAULTY + VARIANTS + BUNDLES + BROKEN)


def test_every_variant_is_graded_in_exactly_one_bundle():
    for variant in VARIANTS:
        holders = [b.name for b in BUNDLES if set(variant.patches) <= set(b.patches)]
        assert len(holders) == 1, (variant.name, holders)
        holder = next(b for b in BUNDLES if b.name == holders[0])
        assert variant.loses <= holder.loses and variant.says.items() <= holder.says.items()
    assert sum(len(b.patches) for b in BUNDLES) == sum(len(v.patches) for v in VARIANTS)
    graded = {s.name for s in GRADED}
    assert not graded & {v.name for v in VARIANTS}


def test_a_bundle_refuses_faults_of_the_same_checkpoint_or_the_main():
    by_name = {s.name: s for s in CORPUS}
    with pytest.raises(ValueError):
        bundle("x", by_name["monitor_busy_loop"], by_name["monitor_no_timeout"])
    with pytest.raises(ValueError):
        bundle("x", by_name["main_returns_none"], by_name["task_definition_cpu_512"])


@pytest.mark.parametrize("entry", CORPUS, ids=lambda s: s.name)
def test_materialises_from_the_reference(entry: Submission, tmp_path):
    directory = materialise(entry, tmp_path / entry.name)
    changed = set()
    for name in (OPS, S3_IO):
        text = (directory / name).read_text(encoding="utf-8")
        if text != (REFERENCE / name).read_text(encoding="utf-8"):
            changed.add(name)
        if entry.name != "broken_syntax_error":
            ast.parse(text, filename=name)  # only the syntax-error submission may not parse
    if entry.resources:
        for path in RESOURCES.iterdir():
            text = (directory / "resources" / path.name).read_text(encoding="utf-8")
            if text != path.read_text(encoding="utf-8"):
                changed.add(f"resources/{path.name}")
                if path.suffix == ".json":
                    json.loads(text)
                elif path.suffix in (".yaml", ".yml"):
                    yaml.load(text, Loader=yaml.BaseLoader)  # CloudFormation tags (!Ref) kept as text
    assert changed == {p.file for p in entry.patches}


def test_syntax_error_submission_does_not_parse(tmp_path):
    entry = next(s for s in BROKEN if s.name == "broken_syntax_error")
    with pytest.raises(SyntaxError):
        ast.parse((materialise(entry, tmp_path) / OPS).read_text(encoding="utf-8"))


def test_a_patch_that_no_longer_applies_is_reported():
    with pytest.raises(PatchError, match="expected 1 occurrence"):
        Replace(OPS, "this text is not in the reference", "x").apply((REFERENCE / OPS).read_text())
    with pytest.raises(PatchError, match="no definition"):
        ReplaceDef(OPS, "ImageClassifierOperations.no_such_method", "").apply((REFERENCE / OPS).read_text())


def test_replace_def_keeps_the_rest_of_the_file():
    source = (REFERENCE / OPS).read_text(encoding="utf-8")
    patched = ReplaceDef(OPS, "ImageClassifierOperations.monitor_task",
                         "def monitor_task(self, *args, **kwargs):\n    return {}\n").apply(source)
    tree = ast.parse(patched)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ImageClassifierOperations")
    methods = [n.name for n in cls.body if isinstance(n, ast.FunctionDef)]
    original = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)
                    and n.name == "ImageClassifierOperations")
    assert methods == [n.name for n in original.body if isinstance(n, ast.FunctionDef)]
    assert "return {}" in patched and "deadline = time.monotonic()" not in patched


def test_command_line_writes_the_corpus(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "task_definition_cpu_512"]) == 0
    assert (tmp_path / "task_definition_cpu_512" / OPS).is_file()
    assert "task_definition" in capsys.readouterr().out
