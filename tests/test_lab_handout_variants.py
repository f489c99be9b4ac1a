"""Runs of the handout that stray from it, against the sandbox, each graded exactly: a run that
stops after step 6 (then goes on skipping step 8), and one that pushes the wrong image as the web image.

Each is LAB.md's own blocks (tests/lab_handout.py), cut or changed where the student strays, then
the aws tier's grade. The grades are what the checks can see in such an account, no more: the
sandbox runs what was pushed, and CloudTrail's history and the resources left tell the rest.
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
    project_copy,
    sandbox_environment,
    section_index,
    substitutions,
)
from sandbox_support import free_port_base
from test_lab_handout import docker_environment

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(project copy, environment): one copy and one sandbox home for the module's runs, one at a time."""
    from local_tier_support.student_image import held_tags

    workdir = project_copy(tmp_path_factory.mktemp("lab"))
    environment = sandbox_environment(tmp_path_factory.mktemp("sandbox-home"), free_port_base(),
                                      {"PYTHONPATH": str(workdir), **docker_environment()})
    with held_tags("web-app:latest", "image-classifier:latest"):
        yield workdir, environment
    subprocess.run([sys.executable, "-m", "ecslab.cli", "sandbox", "down"], env=environment, capture_output=True,
                   timeout=120)


@pytest.fixture(scope="module")
def photos():
    """LAB.md's photos, served here (no Internet): the substitutions of tests/lab_handout.py."""
    server = PhotoServer(docker_bridge_gateway())
    yield substitutions(server)
    server.close()


def run(lab, name: str, blocks, replacements=()) -> Handout:
    workdir, environment = lab
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
    wait = extra_block("sleep 20", "the test: time passes")
    handout = run(lab, "wrong-image", [*until("Étape 7"), wait, grade_block("part1"), SANDBOX_DOWN], wrong)
    assert_ran(handout)
    # web_service: its service checks hold (created with 2 tasks, Fargate, the ALB's target group),
    # its running checks fail: 2 RUNNING tasks, healthy targets, the ALB answering from 2 tasks.
    assert grades(handout, "part1") == {**PART1_DONE, "web_service": ("partial", 2.0)}

