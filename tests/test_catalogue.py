"""grader/catalogue.yaml agrees with checks/, LAB.md and the grading corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from submissions import faults

from ecslab.facts import STUDENT_MODULES
from grader.catalogue import CHECKS_DIR, TIERS, load_catalogue

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue()
LISTED = CATALOGUE.by_module()


def test_every_listed_module_exists():
    missing = sorted(m for m in LISTED if not (CHECKS_DIR / m).is_file())
    assert not missing, f"listed in grader/catalogue.yaml but not found under checks/: {missing}"


@pytest.mark.parametrize("tier", TIERS)
def test_every_check_module_is_listed(tier):
    on_disk = sorted(p.relative_to(CHECKS_DIR).as_posix() for p in (CHECKS_DIR / tier).rglob("test_*.py"))
    unlisted = [m for m in on_disk if m not in LISTED]
    assert not unlisted, f"check modules missing from grader/catalogue.yaml: {unlisted}"


def test_modules_are_listed_under_their_tier():
    for module, (tier, checkpoint) in LISTED.items():
        assert module.startswith(f"{tier}/"), (checkpoint.id, module)


def test_required_points_total_100_and_bonus_on_top():
    assert CATALOGUE.max_points == 100
    assert CATALOGUE.bonus_points > 0
    assert all(c.points > 0 for c in CATALOGUE.checkpoints)


def test_ids_are_unique_identifiers():
    ids = [c.id for c in CATALOGUE.checkpoints]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids


def test_every_checkpoint_has_french_and_english_titles():
    for checkpoint in CATALOGUE.checkpoints:
        assert checkpoint.title.fr.strip() and checkpoint.title.en.strip(), checkpoint.id
    for key, part in CATALOGUE.parts.items():
        assert part.fr.strip() and part.en.strip(), key


def test_lab_handout_mentions_every_checkpoint_id():
    text = (ROOT / "LAB.md").read_text(encoding="utf-8")
    missing = [c.id for c in CATALOGUE.checkpoints if f"`{c.id}`" not in text]
    assert not missing, f"LAB.md does not mention: {missing}"


def test_uses_names_the_submissions_files():
    known = {*STUDENT_MODULES, "resources"}
    for checkpoint in CATALOGUE.checkpoints:
        assert set(checkpoint.uses) <= known, (checkpoint.id, checkpoint.uses)


def test_every_offline_checkpoint_has_a_fault_in_the_corpus():
    """A new offline checkpoint needs its faulty submission in tests/submissions/faults.py."""
    covered = {c for s in faults.FAULTY for c in s.loses}
    assert set(CATALOGUE.ids("offline")) <= covered


def test_part1_commands_are_graded_in_the_students_account_only():
    """Part 1 is commands, no code: only the student's account (the aws tier, also against the local
    sandbox) shows them; a local check could only grade the lab's own web image (issue 10)."""
    for cid in ("web_image_pushed", "web_service"):
        assert CATALOGUE.get(cid).tiers == ("aws",), cid
        assert not (CHECKS_DIR / "local" / f"test_{cid}.py").exists(), cid


def test_step9_is_graded_on_the_image_ecs_lab_build_tags():
    from ecslab.cli import LOCAL_TAGS
    from grader.tiers.local.images import STUDENT_CLASSIFIER_TAG

    assert CATALOGUE.get("classifier_image_local").tiers == ("local",)
    assert STUDENT_CLASSIFIER_TAG == LOCAL_TAGS["classifier"]
    assert "build_images" not in (CHECKS_DIR / "local" / "test_classifier_image_local.py").read_text()
    assert "world.images" not in (CHECKS_DIR / "local" / "test_classifier_image_local.py").read_text()


def test_scaffold_adds_a_checkpoint_that_loads_and_fails_until_written(tmp_path):
    """`python -m grader.scaffold`: the catalogue's entry and one failing module per tier; a mistake
    writes nothing."""
    import shutil

    from grader import scaffold
    from grader.catalogue import CATALOGUE_FILE, CatalogueError, load_catalogue

    catalogue_file = tmp_path / "catalogue.yaml"
    shutil.copy(CATALOGUE_FILE, catalogue_file)
    checks = tmp_path / "checks"
    for tier in ("offline", "local", "aws"):
        (checks / tier).mkdir(parents=True)
    args = scaffold.parser().parse_args([
        "task_tags", "--part", "part2", "--step", "10", "--points", "2", "--tiers", "offline", "aws",
        "--title-fr", "La tâche porte l'étiquette « lab »", "--title-en", "The task carries the \"lab\" tag",
        "--uses", "image_classifier_operations"])
    written = scaffold.scaffold(args, catalogue_file, checks)
    assert written == [catalogue_file, checks / "offline" / "test_task_tags.py", checks / "aws" / "test_task_tags.py"]
    added = load_catalogue(catalogue_file).get("task_tags")
    assert (added.part, added.step, added.points, added.tiers) == ("part2", "10", 2.0, ("offline", "aws"))
    assert added.title("en") == 'The task carries the "lab" tag' and added.uses == ("image_classifier_operations",)
    module = (checks / "offline" / "test_task_tags.py").read_text(encoding="utf-8")
    assert "def test_task_tags_is_written():" in module and "fail(" in module  # a stub never grades
    compile(module, "test_task_tags.py", "exec")
    assert 'pytestmark = pytest.mark.stage("part2")' in (checks / "aws" / "test_task_tags.py").read_text(encoding="utf-8")
    compile((checks / "aws" / "test_task_tags.py").read_text(encoding="utf-8"), "test_task_tags.py", "exec")
    before = catalogue_file.read_text(encoding="utf-8")
    with pytest.raises(CatalogueError, match="already exists"):
        scaffold.scaffold(args, catalogue_file, checks)
    wrong = scaffold.parser().parse_args(["other", "--part", "part9", "--step", "1", "--points", "1",
                                          "--tiers", "offline", "--title-fr", "x", "--title-en", "x"])
    with pytest.raises(CatalogueError, match="would not load"):
        scaffold.scaffold(wrong, catalogue_file, checks)
    assert catalogue_file.read_text(encoding="utf-8") == before and not (checks / "offline" / "test_other.py").exists()
