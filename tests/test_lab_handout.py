"""The handout, tested: LAB.md's commands run in order against the sandbox (`ecs-lab sandbox`),
with the reference solution as the student's code, and the grades its checkpoint commands give.

How the blocks are chosen and run: tests/lab_handout.py. A complete run scores 100/100 and the
whole bonus (15/15), each checkpoint graded by the handout's own `pytest` command at its step.
"""

from __future__ import annotations

import pytest
from lab_handout import (
    Handout,
    PhotoServer,
    docker_bridge_gateway,
    lab_blocks,
    merged,
    project_copy,
    sandbox_environment,
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
def handout(tmp_path_factory):
    from local_tier_support.student_image import held_tags

    workdir = project_copy(tmp_path_factory.mktemp("lab"))
    photos = PhotoServer(docker_bridge_gateway())
    environment = sandbox_environment(
        tmp_path_factory.mktemp("sandbox-home"), free_port_base(),
        {"PYTHONPATH": str(workdir), **docker_environment()})
    run = Handout(workdir, environment, substitutions(photos))
    try:
        with held_tags("image-classifier:latest", "web-app:latest"):
            run.run([b for b in lab_blocks() if b.runs])
    finally:
        photos.close()
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "ecslab.cli", "sandbox", "down"], env=environment,
                       capture_output=True, timeout=120)
    return run


def test_the_whole_handout_runs_and_scores_100_and_the_whole_bonus(handout):
    assert handout.failed_block is None, (
        f"LAB.md block {handout.failed_block.number} (line {handout.failed_block.line}, "
        f"{handout.failed_block.heading}) failed:\n{handout.output[-6000:]}")
    grades = merged(handout.grades())
    catalogue = load_catalogue()
    expected = {c.id: ("passed", float(c.points)) for c in catalogue.checkpoints}
    assert grades == expected, handout.output[-3000:]
    required = sum(score for cid, (_, score) in grades.items() if not catalogue.get(cid).bonus)
    bonus = sum(score for cid, (_, score) in grades.items() if catalogue.get(cid).bonus)
    assert (required, bonus) == (100, 15)
