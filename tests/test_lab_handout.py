"""The handout, tested: LAB.md's commands run in order against the sandbox (`ecs-lab sandbox`),
with the reference solution as the student's code, and the grades its checkpoint commands give.

How the blocks are chosen and run: tests/lab_handout.py. A complete run scores 100/100 and the
whole bonus (15/15), each checkpoint graded by the handout's own `pytest` command at its step. Then
runs that stray from it, each graded exactly: a run that stops after step 6 (then goes on skipping
step 8), and one that pushes the wrong image as the web image. The grades are what the checks can
see in such an account, no more: the sandbox runs what was pushed, and CloudTrail's history and the
resources left tell the rest. One module: its runs share the lab's local tags (image-classifier:latest,
web-app:latest), one after the other, on one pytest-xdist worker.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from lab_handout import (
    SANDBOX_DOWN,
    SERVICE_STABLE,
    Handout,
    PhotoServer,
    docker_bridge_gateway,
    extra_block,
    grade_block,
    lab_blocks,
    merged,
    project_copy,
    sandbox_environment,
    section_index,
    substitutions,
)
from sandbox_support import free_port_base

from grader.catalogue import load_catalogue

pytestmark = pytest.mark.timeout(1500)


def test_the_blocks_are_marked_and_every_skip_says_why():
    blocks = lab_blocks()
    assert len(blocks) > 30
    assert all(b.reason for b in blocks if b.marker == "skip"), [b.line for b in blocks if b.marker == "skip"]
    only = [b for b in blocks if b.marker == "only"]
    assert "ecs-lab sandbox up" in only[0].code and "ecs-lab sandbox down" in only[-1].code
    # The handout's own grading commands are among what runs: one per stage, and the other tiers.
    running = "\n".join(b.code for b in blocks if b.runs)
    for stage in ("part1", "after-step8", "part2", "final"):
        assert f"--stage {stage}" in running
    assert "pytest --tier local" in running


def docker_environment() -> dict[str, str]:
    """What the lab's builds need here: the local base image (no Docker Hub), the test model (no hub)."""
    from ecslab.images import docker_settings
    from grader.tiers.local.images import ensure_test_model

    settings = {k: v for k, v in docker_settings().items() if k in ("ECS_LAB_BASE_IMAGE", "ECS_LAB_BUILD_NETWORK")}
    return {**settings, "ECS_LAB_MODEL_DIR": str(ensure_test_model())}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(project copy, environment): one copy and one sandbox home for the module's runs, one at a time,
    the lab's local tags held for all of them."""
    from local_tier_support.student_image import held_tags

    workdir = project_copy(tmp_path_factory.mktemp("lab"))
    environment = sandbox_environment(tmp_path_factory.mktemp("sandbox-home"), free_port_base(),
                                      {"PYTHONPATH": str(workdir), **docker_environment()})
    with held_tags("web-app:latest", "image-classifier:latest"):
        yield workdir, environment
    subprocess.run([sys.executable, "-m", "ecslab.cli", "sandbox", "down"], env=environment, capture_output=True,
                   timeout=120, check=False)


@pytest.fixture(scope="module")
def photos():
    """LAB.md's photos, served here (no Internet): the substitutions of tests/lab_handout.py."""
    server = PhotoServer(docker_bridge_gateway())
    yield substitutions(server)
    server.close()


@pytest.fixture(scope="module")
def handout(lab, photos):
    return run(lab, "handout", [b for b in lab_blocks() if b.runs], photos)


def test_the_whole_handout_runs_and_scores_100_and_the_whole_bonus(handout):
    assert_ran(handout)
    grades = merged(handout.grades())
    catalogue = load_catalogue()
    expected = {c.id: ("passed", float(c.points)) for c in catalogue.checkpoints}
    assert grades == expected, handout.output[-3000:]
    required = sum(score for cid, (_, score) in grades.items() if not catalogue.get(cid).bonus)
    bonus = sum(score for cid, (_, score) in grades.items() if catalogue.get(cid).bonus)
    assert (required, bonus) == (100, 15)


# ---------------------------------------------------------------------------
# Runs that stray from the handout


def run(lab, name: str, blocks, replacements=()) -> Handout:
    """One run in a fresh sandbox: whatever an earlier run left (a failed one stops early) is erased first."""
    workdir, environment = lab
    subprocess.run([sys.executable, "-m", "ecslab.cli", "sandbox", "down"], env=environment, capture_output=True,
                   timeout=120, check=False)
    return Handout(workdir, environment, list(replacements), name=name).run(blocks)


def grades(handout: Handout, stage: str) -> dict[str, tuple[str, float]]:
    report = next(r for args, r in reversed(handout.grades()) if f"--stage {stage}" in args)
    return {c["id"]: (c["status"], c["score"]) for c in report["checkpoints"] if c["status"] != "not_graded"}


def assert_ran(handout: Handout) -> None:
    assert handout.failed_block is None, (
        f"block {handout.failed_block.number} ({handout.failed_block.heading}) failed:\n{handout.output[-5000:]}")


def until(heading: str) -> list:
    blocks = [b for b in lab_blocks() if b.runs]
    return blocks[:section_index(blocks, heading)]


AWS_CHECKPOINTS = ("stacks", "cluster", "web_image_pushed", "web_task_definition", "web_service", "cleanup_step8",
                   "final_cleanup", "classifier_image_pushed", "task_definition", "classification_result",
                   "bonus_task_exit_0", "bonus_result_in_s3")


def failed_except(**kept: tuple[str, float]) -> dict[str, tuple[str, float]]:
    return {cid: kept.get(cid, ("failed", 0.0)) for cid in AWS_CHECKPOINTS}


PART1_DONE = {"stacks": ("passed", 8.0), "cluster": ("passed", 5.0), "web_image_pushed": ("passed", 5.0),
              "web_task_definition": ("passed", 5.0), "web_service": ("passed", 10.0)}


def test_a_run_that_stops_after_step_6_then_one_that_skips_step_8(lab, photos):
    """One account, graded twice. First as the student who stops after step 6: everything of Part 1
    works (step 7 only looks at it); step 8's deletions are not done: of its four checks, only "what
    step 8 keeps is still there" holds; nothing of Part 2, no clean-up. Then the same student goes on,
    skips step 8 and does Part 2 (steps 9 to 12, not the bonus): at the Part 2 grade the service, the
    ALB and its target group are still there, cleanup_step8 keeps only that same check; Part 2 is not
    affected; the bonus is not done."""
    blocks = [b for b in lab_blocks() if b.runs]
    step7, step8 = section_index(blocks, "Étape 7"), section_index(blocks, "Étape 8")
    step9, bonus = section_index(blocks, "Étape 9"), section_index(blocks, "Étape Bonus")
    handout = run(lab, "stray", [*blocks[:step7], SERVICE_STABLE, grade_block("all"),
                                 *blocks[step7:step8], *blocks[step9:bonus], grade_block("part2"), SANDBOX_DOWN],
                  photos)
    assert_ran(handout)
    assert grades(handout, "all") == failed_except(**PART1_DONE, cleanup_step8=("partial", 1.25))
    assert grades(handout, "part1") == PART1_DONE  # the handout's own Part 1 checkpoint, at step 7
    assert grades(handout, "part2") == {
        **PART1_DONE, "cleanup_step8": ("partial", 1.25), "classifier_image_pushed": ("passed", 8.0),
        "task_definition": ("passed", 10.0), "classification_result": ("passed", 7.0),
        "bonus_task_exit_0": ("failed", 0.0), "bonus_result_in_s3": ("failed", 0.0)}


def test_a_run_that_pushes_the_wrong_image(lab):
    """Step 4 pushes an image that is not the web application (here the bare Python base image,
    under web-app:latest): it is in ECR for linux/amd64, so web_image_pushed holds; the sandbox
    runs what was pushed, the tasks exit at once, nothing answers behind the ALB."""
    wrong = [("ecs-lab push web\n", 'docker tag "$ECS_LAB_BASE_IMAGE" web-app:latest\necs-lab push web\n')]
    wait = extra_block("sleep 3", "the test: time passes (the tasks exit at once: the grade is the same later)")
    handout = run(lab, "wrong-image", [*until("Étape 7"), wait, grade_block("part1"), SANDBOX_DOWN], wrong)
    assert_ran(handout)
    # web_service: its service checks hold (created with 2 tasks, Fargate, the ALB's target group),
    # its running checks fail: 2 RUNNING tasks, healthy targets, the ALB answering from 2 tasks.
    assert grades(handout, "part1") == {**PART1_DONE, "web_service": ("partial", 2.0)}

