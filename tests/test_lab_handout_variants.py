"""Runs of the handout that stray from it, against the sandbox, each graded exactly: a run that
stops after step 6, one that pushes the wrong image as the web image, one that skips step 8.

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


def test_a_run_that_stops_after_step_6(lab):
    """Everything of Part 1 works (step 7 only looks at it); step 8's deletions are not done: of its
    four checks, only "what step 8 keeps is still there" holds; nothing of Part 2, no clean-up."""
    handout = run(lab, "after-step-6", [*until("Étape 7"), SERVICE_STABLE, grade_block("all"), SANDBOX_DOWN])
    assert_ran(handout)
    assert grades(handout, "all") == failed_except(**PART1_DONE, cleanup_step8=("partial", 1.25))


def test_a_run_that_pushes_the_wrong_image(lab):
    """Step 4 pushes an image that is not the web application (here the bare Python base image,
    under web-app:latest): it is in ECR for linux/amd64, so web_image_pushed holds; the sandbox
    runs what was pushed, the tasks exit at once, nothing answers behind the ALB."""
    wrong = [("ecs-lab push web\n", 'docker tag "$ECS_LAB_BASE_IMAGE" web-app:latest\necs-lab push web\n')]
    wait = lab_wait("sleep 20")
    handout = run(lab, "wrong-image", [*until("Étape 7"), wait, grade_block("part1"), SANDBOX_DOWN], wrong)
    assert_ran(handout)
    # web_service: its service checks hold (created with 2 tasks, Fargate, the ALB's target group),
    # its running checks fail: 2 RUNNING tasks, healthy targets, the ALB answering from 2 tasks.
    assert grades(handout, "part1") == {**PART1_DONE, "web_service": ("partial", 2.0)}


def lab_wait(command: str):
    from lab_handout import extra_block

    return extra_block(command, "the test: time passes")


def test_a_run_that_skips_step_8(lab, photos):
    """Part 1, then straight to Part 2 (steps 9 to 12, not the bonus) without step 8: the service, the
    ALB and its target group are still there at the Part 2 grade: cleanup_step8 keeps only its
    check of what step 8 keeps; Part 2 is not affected; the bonus is not done."""
    blocks = [b for b in lab_blocks() if b.runs]
    step8, part2 = section_index(blocks, "Étape 8"), section_index(blocks, "Étape 9")
    chosen = [*blocks[:step8], *blocks[part2:section_index(blocks, "Étape Bonus")], grade_block("part2"), SANDBOX_DOWN]
    handout = run(lab, "skips-step-8", chosen, photos)
    assert_ran(handout)
    assert grades(handout, "part1") == PART1_DONE
    assert grades(handout, "part2") == {
        **PART1_DONE, "cleanup_step8": ("partial", 1.25), "classifier_image_pushed": ("passed", 8.0),
        "task_definition": ("passed", 10.0), "classification_result": ("passed", 7.0),
        "bonus_task_exit_0": ("failed", 0.0), "bonus_result_in_s3": ("failed", 0.0)}
