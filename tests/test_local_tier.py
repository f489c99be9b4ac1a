"""The local tier, graded end to end: the grader runs as a subprocess on real submissions.

- the reference scores full marks on every locally verifiable checkpoint, its student having
  built image-classifier:latest as step 9 says (`ecs-lab build classifier`, the test model);
- without that image, or with one whose classifier prints garbage, it loses exactly
  classifier_image_local (the grader never grades its own build of the image there);
- a faulty classifier (s3_io.upload_result writes nothing) loses exactly the S3 checkpoints;
- a monitor_task without a deadline is stopped by the check's time limit and costs only that check;
- without Docker the tier is "not graded" with the reason, and a failure in CI;
- no container or network of the tier is left behind (`docker ps -a` before/after), also
  when the run is interrupted (SIGTERM, handled as Ctrl-C).

Needs a Docker engine with the base image (`sudo bash scripts/setup-docker.sh`); skipped
without one, except in CI. Each graded run takes about a minute once the images are cached.
The tag image-classifier:latest is set for a run and restored after it
(local_tier_support/student_image.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_tier_support.docker_state import RUN_ID_VARIABLE, Snapshot, docker_client_or_skip, new_run_id
from local_tier_support.student_image import student_image
from submissions.local_faults import LOCAL_CHECKPOINTS, by_name, materialise

ROOT = Path(__file__).resolve().parents[1]
GRADE_TIME_LIMIT_S = 900


@pytest.fixture(scope="module")
def docker_client():
    client = docker_client_or_skip()
    yield client
    client.close()


def grade(submission: Path, report_dir: Path, env: dict[str, str] | None = None, docker_client=None,
          expect_code: int = 0, image: str = "built") -> dict:
    """Run the local tier on `submission`; return report.json. With `docker_client`, the student's
    image-classifier:latest is `image` ("built" from the submission, "garbage" or "absent"), and
    the run must leave no container or network (`docker ps -a` before and after)."""
    if docker_client is None:
        return _grade(submission, report_dir, env, None, expect_code)
    with student_image(docker_client, submission, image):
        return _grade(submission, report_dir, env, docker_client, expect_code)


def _grade(submission: Path, report_dir: Path, env: dict[str, str] | None, docker_client, expect_code: int) -> dict:
    run_id = new_run_id()
    before = Snapshot.take(docker_client) if docker_client else None
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--tier=local", f"--submission={submission}",
         f"--report-dir={report_dir}", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIME_LIMIT_S,
        env={**os.environ, RUN_ID_VARIABLE: run_id, **(env or {})})
    report = report_dir / "report.json"
    assert completed.returncode == expect_code and report.is_file(), \
        f"grader exit {completed.returncode}\n{completed.stdout[-3000:]}\n{completed.stderr[-2000:]}"
    if docker_client:
        assert Snapshot.take(docker_client).left_by(run_id, before) == []
    return json.loads(report.read_text())


def local_checkpoints(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checkpoints"] if c["id"] in LOCAL_CHECKPOINTS}


def test_reference_scores_full_marks_and_leaves_nothing(docker_client, tmp_path):
    report = grade(ROOT / "reference", tmp_path, docker_client=docker_client)
    checkpoints = local_checkpoints(report)
    assert set(checkpoints) == LOCAL_CHECKPOINTS
    wrong = {cid: (c["status"], c["score"], c["feedback"]) for cid, c in checkpoints.items()
             if c["status"] != "passed" or c["score"] != c["max_points"]}
    assert wrong == {}


def checks_of(checkpoint: dict) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in checkpoint["checks"]}


def test_without_the_students_image_only_classifier_image_local_is_lost(docker_client, tmp_path):
    """The grader never grades its own build for step 9: no image-classifier:latest, no points,
    and every check of the checkpoint says to run `ecs-lab build classifier`."""
    report = grade(ROOT / "reference", tmp_path, docker_client=docker_client, image="absent")
    checkpoints = local_checkpoints(report)
    wrong = {cid: (c["status"], c["score"]) for cid, c in checkpoints.items()
             if cid != "classifier_image_local" and c["score"] != c["max_points"]}
    assert wrong == {}
    lost = checkpoints["classifier_image_local"]
    assert lost["status"] == "failed" and lost["score"] == 0, lost
    assert set(checks_of(lost).values()) == {"failed"}, checks_of(lost)
    messages = [c["message"] for c in lost["checks"]]
    assert all("ecs-lab build classifier" in m and "étape 9" in m and "image-classifier:latest" in m
               for m in messages), messages


def test_an_image_whose_classifier_prints_garbage_loses_only_classifier_image_local(docker_client, tmp_path):
    """Labels come from the image's own result document: a confident wrong label fails every photo,
    and exit code 0 for a bad input fails too; only the document's shape passes."""
    report = grade(ROOT / "reference", tmp_path, docker_client=docker_client, image="garbage")
    checkpoints = local_checkpoints(report)
    wrong = {cid: (c["status"], c["score"]) for cid, c in checkpoints.items()
             if cid != "classifier_image_local" and c["score"] != c["max_points"]}
    assert wrong == {}
    lost = checkpoints["classifier_image_local"]
    outcomes = checks_of(lost)
    assert {name for name, outcome in outcomes.items() if outcome == "passed"} == {
        "test_output_and_result_document"}, outcomes
    assert lost["status"] == "partial" and 0 < lost["score"] < lost["max_points"] / 2, lost
    assert "banana" in " ".join(lost["feedback"])


def test_faulty_upload_loses_exactly_the_s3_checkpoints(docker_client, tmp_path):
    faulty = by_name("local_upload_writes_nothing")
    submission = materialise(faulty, tmp_path / faulty.name)
    report = grade(submission, tmp_path / "report", docker_client=docker_client)
    checkpoints = local_checkpoints(report)
    for cid, checkpoint in checkpoints.items():
        expected = faulty.loses.get(cid, 1.0) * checkpoint["max_points"]
        assert checkpoint["score"] == pytest.approx(expected), (cid, checkpoint["status"], checkpoint["feedback"])
    assert "upload_result n'a écrit aucun objet" in " ".join(checkpoints["bonus_s3_upload"]["feedback"])
    assert "n'existe pas dans S3" in " ".join(checkpoints["bonus_result_in_s3"]["feedback"])


def test_monitor_without_timeout_is_stopped_by_the_check_time_limit(docker_client, tmp_path):
    faulty = by_name("local_monitor_without_timeout")
    submission = materialise(faulty, tmp_path / faulty.name)
    started = time.monotonic()
    report = grade(submission, tmp_path / "report", docker_client=docker_client)
    assert time.monotonic() - started < GRADE_TIME_LIMIT_S / 2
    checkpoints = local_checkpoints(report)
    for cid, checkpoint in checkpoints.items():
        expected = faulty.loses.get(cid, 1.0) * checkpoint["max_points"]
        assert checkpoint["score"] == pytest.approx(expected), (cid, checkpoint["status"], checkpoint["feedback"])
    hanging = [c for c in checkpoints["task_monitoring"]["checks"] if c["name"] == "test_hanging_task_times_out"]
    assert hanging and hanging[0]["outcome"] == "failed" and 20 <= hanging[0]["duration_s"] < 60, hanging
    assert "ne répond pas" in hanging[0]["message"], hanging


def test_without_docker_the_tier_is_not_graded_with_the_reason(tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "CI": "false"}
    report = grade(ROOT / "reference", tmp_path, env)
    for cid, checkpoint in local_checkpoints(report).items():
        assert checkpoint["status"] == "not_graded", cid
    reasons = {c["reason"] for c in local_checkpoints(report).values()}
    assert any("aucun moteur Docker" in r for r in reasons), reasons


def test_without_docker_in_ci_the_run_fails(tmp_path):
    """In CI the tier must run: the run exits 3, and the reports say why (never the student's failure)."""
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "CI": "true"}
    report = grade(ROOT / "reference", tmp_path, env, expect_code=3)
    checkpoints = local_checkpoints(report)
    assert {c["status"] for c in checkpoints.values()} == {"not_graded"}
    assert "CI" in checkpoints["task_monitoring"]["reason"]


def test_interrupted_run_leaves_nothing(docker_client, tmp_path):
    """SIGTERM in the middle of the tier (containers running): everything is removed."""
    run_id = new_run_id()
    before = Snapshot.take(docker_client)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--tier=local", f"--submission={ROOT / 'reference'}",
         f"--report-dir={tmp_path}", "-p", "no:cacheprovider", "-q", "-k", "task_monitoring or bonus_task_exit_0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, RUN_ID_VARIABLE: run_id})
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if any(line.startswith("container") for line in Snapshot.take(docker_client).left_by(run_id, before)):
                break
            time.sleep(0.2)
        assert process.poll() is None, "the run ended before any container of the tier was seen"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert Snapshot.take(docker_client).left_by(run_id, before) == []
