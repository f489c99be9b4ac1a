"""What the student reads first: the next step, one message per cause, what the score covers,
the other tiers in one line, and a Markdown report that renders cleanly (grader/results.py, its last section)."""
from __future__ import annotations

import re

from grading_support import assert_complete
from submissions.faults import by_name, materialise

from grader.results import handout_rank

OTHER_TIER_IDS = {"cluster", "web_image_pushed", "web_service", "cleanup_step8", "final_cleanup",
                  "classifier_image_local", "bonus_task_exit_0"}


def summary_block(stdout: str) -> list[str]:
    """The grader's summary in the terminal, from its title line."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Note du lab 8" in line or "Lab 8 grade" in line)
    return lines[start:]


def test_handout_order_puts_the_bonus_after_step_12_and_the_clean_up_last():
    steps = ["Nettoyage", "Bonus 4", "12", "Bonus 1, 3", "6-7", "2", "10"]
    assert sorted(steps, key=handout_rank) == ["2", "6-7", "10", "12", "Bonus 1, 3", "Bonus 4", "Nettoyage"]


def test_the_template_starts_with_its_next_step_and_says_what_the_score_covers(template, gradescope_schema):
    assert_complete(template, gradescope_schema)
    report = template.report
    assert report["next_step"]["checkpoint"] == "classifier_image_pushed"
    assert report["next_step"]["text"].startswith("Prochaine étape : étape 10 de LAB.md")
    assert report["coverage"]["text"].startswith(
        "13 / 65 points vérifiables hors ligne — 8 de plus avec --tier local, 27 avec --tier aws")
    assert report["coverage"]["other_tiers"] == [
        ["local", 8, ["classifier_image_local"]],
        ["aws", 27, ["cluster", "web_image_pushed", "web_service", "cleanup_step8", "final_cleanup"]]]
    block = summary_block(template.stdout)
    assert block[1].startswith("Prochaine étape : étape 10 de LAB.md, « Image poussée vers ECR")
    assert "NotImplementedError" in block[2]
    # The checkpoints only another tier verifies: one grouped line, no row each.
    rows = [line for line in block if re.match(r"\s+\[", line)]
    assert not [line for line in rows if any(f"({cid})" in line for cid in OTHER_TIER_IDS)], rows
    grouped = [line for line in block if line.startswith("Vérifiés par d'autres tiers")]
    assert len(grouped) == 1 and all(cid in grouped[0] for cid in OTHER_TIER_IDS)
    assert any(line.startswith("Note : 13 / 65 points vérifiables hors ligne") for line in block)
    # main_runs chains task_definition..classification_result: it names the first that fails, then
    # its two failed checks on the same program output show the output once.
    main_runs = report["checkpoints"][[c["id"] for c in report["checkpoints"]].index("main_runs")]["feedback"]
    assert main_runs[0] == ("Échoue sans doute parce que « Task definition créée avec succès pour le classificateur » "
                            "(task_definition) échoue : corrigez-le d'abord.")
    assert len(main_runs) == 3 and sum("obtenu : code 1" in f for f in main_runs) == 1
    assert main_runs[2].endswith("\n(mêmes valeurs que ci-dessus)")


def test_the_reference_has_nothing_left_offline_and_says_where_the_rest_is(reference):
    report = reference.report
    assert report["next_step"]["checkpoint"] is None
    assert "--tier local puis --tier aws" in report["next_step"]["text"]
    assert report["coverage"]["text"].startswith("65 / 65 points vérifiables hors ligne")


def test_one_root_cause_is_told_once(graded_once):
    """A file that does not import fails every checkpoint that uses it: the error once, under the
    first of them in the handout; the others say they fail for that reason, without the step to re-read."""
    entry = by_name("broken_syntax_error")
    graded = graded_once(entry.name, lambda directory, _reports: materialise(entry, directory))
    checkpoints = graded.checkpoints
    told = [cid for cid, c in checkpoints.items() if any("SyntaxError" in f for f in c["feedback"])]
    assert told == ["classifier_image_pushed"]
    followers = [cid for cid, c in checkpoints.items() if c["caused_by"] == "classifier_image_pushed"]
    assert {"task_definition", "task_run", "task_monitoring", "classification_result", "main_runs"} <= set(followers)
    for cid in followers:
        assert checkpoints[cid]["feedback"] == [
            "Échoue pour la même raison que « Image poussée vers ECR avec succès » (classifier_image_pushed), plus haut."]
    block = "\n".join(summary_block(graded.stdout))
    assert block.count("SyntaxError") == 2  # the next step's line and the first checkpoint's message
    assert block.count("Relisez") == 1


def test_english_summary_and_markdown(graded_once):
    graded = graded_once("template-en", "student_template", "--lang", "en")
    block = summary_block(graded.stdout)
    assert block[1].startswith("Next step: step 10 of LAB.md, \u201cImage pushed to ECR successfully\u201d")
    assert any(line.startswith("Score: 13 / 65 points verifiable offline — 8 more with --tier local, "
                               "27 with --tier aws") for line in block)
    assert any(line.startswith("Verified by other tiers, not graded here: --tier local") for line in block)
    markdown = (graded.report_dir / "report.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[2].startswith("**Next step: step 10 of LAB.md")


def test_markdown_renders_cleanly_on_github(template, graded_once):
    """No HTML line breaks in lists, a blank line around every heading, fenced values."""
    for graded in (template, graded_once("template-en", "student_template", "--lang", "en")):
        text = (graded.report_dir / "report.md").read_text(encoding="utf-8")
        assert "<br" not in text
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#"):
                assert i == 0 or lines[i - 1] == "", f"no blank line before {line!r}"
                assert lines[i + 1] == "", f"no blank line after {line!r}"
        assert text.count("```") % 2 == 0
        assert "    ```text" in text  # multi-line feedback in a fenced block inside its list item


def test_points_of_files_the_lab_provides_are_named(template, graded_once):
    """The template's 13 points come from resources/, which the lab provides; a submission that ships
    its own (changed) copy earns them for its own work."""
    assert template.report["coverage"]["provided_text"] == (
        "Dont 13 points pour des fichiers que le lab fournit (resources/, non modifiés : stacks, web_task_definition).")
    assert "Dont 13 points pour des fichiers que le lab fournit" in template.stdout
    entry = by_name("web_task_definition_wrong_port")
    assert entry.resources
    graded = graded_once(entry.name, lambda directory, _reports: materialise(entry, directory))
    assert graded.report["coverage"]["provided_text"] == ""
    assert not any(c["lab_provided"] for c in graded.report["checkpoints"])
