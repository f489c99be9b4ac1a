"""The aws tier, run as a student runs it (`python -m pytest --tier=aws --stage=...`), against a
moto server standing in for AWS, in prepared account states (tests/aws_states.py).

One moto server for the module (per xdist worker); every run gets its own moto account, in
the state it grades. A run is a job: prepare the state, run the tier in a subprocess, read its
reports. Without xdist every job starts with the module (at most RUN_SLOTS tier runs at a
time) and each test waits for its own; under xdist a job starts when a test asks for it, so
that no worker prepares and runs what another one does. Every run is also checked for
secrets in its reports and for calls that are not reads.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aws_states as states
import pytest
from aws_states import Account, MotoServer, TierRun, WebAppFleet

RUN_SLOTS = 3
# Third-party pytest plugins of the machine (not the project's): loading them costs a second a run.
QUIET = ("-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:xdist", "-p", "no:xdist.looponfail")
AWS_CHECKPOINTS = ("stacks", "cluster", "web_image_pushed", "web_task_definition", "web_service", "cleanup_step8",
                   "final_cleanup", "classifier_image_pushed", "task_definition", "classification_result",
                   "bonus_task_exit_0", "bonus_result_in_s3")
PART1 = {"stacks": 8, "cluster": 5, "web_image_pushed": 5, "web_task_definition": 5, "web_service": 10}
PART2 = {"classifier_image_pushed": 8, "task_definition": 10, "classification_result": 7,
         "bonus_task_exit_0": 3, "bonus_result_in_s3": 3}


# ---------------------------------------------------------------------------
# The states


def part1_running(server: MotoServer) -> Account:
    """After step 7: stacks, cluster, web image, web task definition, service of 2 tasks behind the ALB."""
    account = server.account()
    states.deploy(account)
    states.create_cluster(account)
    states.push(account, "ecs-lab/web-app")
    states.register_web_task_definition(account)
    states.create_web_service(server, account)
    return account


def one_task_running(server: MotoServer) -> Account:
    """After step 7, but only one of the service's two tasks runs (the other keeps failing)."""
    account = server.account()
    states.deploy(account)
    states.create_cluster(account)
    states.push(account, "ecs-lab/web-app")
    states.register_web_task_definition(account)
    states.create_web_service(server, account, running=1)
    return account


def after_step8(server: MotoServer) -> Account:
    account = part1_running(server)
    states.cleanup_step8(server, account)
    return account


def lab_complete(server: MotoServer) -> Account:
    """After step 12 and the bonus (reference code): everything but the final clean-up."""
    account = after_step8(server)
    states.push(account, "ecs-lab/image-classifier", platforms=["linux/amd64", "unknown/unknown"])
    states.run_classifier(server, account)
    states.run_classifier(server, account, s3=True, register=False)
    return account


def forget_classifier_tasks(server: MotoServer, account: Account) -> None:
    """Graded more than an hour later: ECS no longer shows the classifier's stopped tasks."""
    tasks = [t for by_arn in server.ecs_backend(account).tasks.values() for t in by_arn.values()]
    for task in tasks:
        if task.task_definition_arn.rsplit("/", 1)[-1].startswith("image-classifier:"):
            server.forget_task(account, task.task_arn)


def half_done(server: MotoServer) -> Account:
    """Steps 2 to 4 only: stacks, cluster, web image."""
    account = server.account()
    states.deploy(account)
    states.create_cluster(account)
    states.push(account, "ecs-lab/web-app")
    return account


def broken(server: MotoServer) -> Account:
    """Wrong capacity provider, web task CPU 512, step 8 forgotten, an arm64-only classifier image,
    a classifier task that exited 1, no bonus."""
    account = server.account()
    states.deploy(account)
    states.create_cluster(account, providers=("FARGATE_SPOT",), strategy=(("FARGATE_SPOT", 1),))
    states.push(account, "ecs-lab/web-app")
    states.register_web_task_definition(account, cpu="512", memory="1024")
    states.create_web_service(server, account)
    states.push(account, "ecs-lab/image-classifier", platforms=["linux/arm64"])
    states.run_classifier(server, account, exit_code=1)
    return account


# ---------------------------------------------------------------------------
# The runs


@dataclass
class Lab:
    """The tier's runs, one job each (a future: each test waits for its own)."""

    server: MotoServer
    tmp: Path
    runs: dict[str, Future] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(len(JOBS)))
    slots: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(RUN_SLOTS))
    lock: threading.Lock = field(default_factory=threading.Lock)
    # States are prepared one at a time: moto answers in this process, and threads preparing at
    # once only fight for the GIL. The tier runs (subprocesses) overlap with the preparations.
    preparing: threading.Lock = field(default_factory=threading.Lock)

    def run(self, name: str, environment: dict[str, str], stage: str, *args: str, **extra) -> TierRun:
        """One run of the tier (blocking; at most RUN_SLOTS at a time: the machine has 2 cores)."""
        report_dir = self.tmp / name
        with self.slots:
            run = states.finish_tier(states.start_tier(environment, stage, report_dir, *QUIET, *args), report_dir)
        run.extra = extra
        text = run.text()
        for account in list(self.accounts.values()):  # no report shows a secret
            assert account.access_key not in text and account.secret_key not in text, name
        if run.tier is not None and name != "mutation":  # every call was a read
            assert run.tier["refused"] == [] and all(call["allowed"] for call in run.tier["calls"]), name
        return run

    def start(self, name: str) -> Future:
        with self.lock:
            if name not in self.runs:
                self.runs[name] = self.pool.submit(self._job, name)
            return self.runs[name]

    def _job(self, name: str) -> TierRun:
        try:
            run = JOBS[name](self)
        except BaseException:
            (self.tmp / f"{name}.error").write_text(traceback.format_exc(), encoding="utf-8")
            raise
        run.save(self.tmp / f"{name}.run.json")
        return run

    def result(self, name: str) -> TierRun:
        return self.start(name).result()

    def account(self, name: str, build) -> Account:
        """The account `name`, in the state `build` makes (made once, one preparation at a time)."""
        with self.preparing:
            if name not in self.accounts:
                self.accounts[name] = build(self.server)
            return self.accounts[name]

    def change(self, account: Account, step) -> None:
        with self.preparing:
            step(self.server, account)


@dataclass
class SharedRuns:
    """Under xdist, the runs made by the worker that prepares them (files in a shared directory)."""

    tmp: Path
    timeout_s: float = 900

    def result(self, name: str) -> TierRun:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if (self.tmp / f"{name}.error").is_file():
                raise AssertionError((self.tmp / f"{name}.error").read_text(encoding="utf-8"))
            if (self.tmp / f"{name}.run.json").is_file():
                return TierRun.load(self.tmp / f"{name}.run.json")
            time.sleep(0.1)
        raise TimeoutError(f"no run {name} in {self.tmp}")


# ---- the jobs: a state, then the tier on it ---------------------------------------


def job_no_profile(lab: Lab) -> TierRun:
    """No AWS configuration at all: no profile aws-labs, no credentials."""
    return lab.run("no-profile", lab.server.environment(None), "part1")


def job_part1(lab: Lab) -> TierRun:
    account = lab.account("part1", part1_running)
    with WebAppFleet(account.notes["web_tasks"]) as fleet:  # the ALB's targets: local web app processes
        return lab.run("part1", lab.server.environment(account, ECS_LAB_ALB_ENDPOINT=fleet.address), "part1",
                       web_tasks=account.notes["web_tasks"])


def job_one_task(lab: Lab) -> TierRun:
    account = lab.account("one-task", one_task_running)
    with WebAppFleet(account.notes["web_tasks"]) as fleet:  # the ALB has one target
        return lab.run("one-task", lab.server.environment(account, ECS_LAB_ALB_ENDPOINT=fleet.address), "part1")


def job_mutation(lab: Lab) -> TierRun:
    """The cluster checks try UpdateService through the tier's session (tests/aws_mutation_plugin.py)."""
    account = lab.account("part1", part1_running)  # unchanged by the run, as the test shows
    environment = lab.server.environment(account, PYTHONPATH=str(Path(__file__).parent))
    run = lab.run("mutation", environment, "part1", "-p", "aws_mutation_plugin")
    service = account.client("ecs").describe_services(cluster="ecs-lab-cluster", services=["web-service"])
    run.extra = {"desired_count_after": service["services"][0]["desiredCount"],
                 "trail_after": [e["EventName"] for e in lab.server.trail.events[(account.id, states.REGION)]]}
    return run


def job_after8(lab: Lab) -> TierRun:
    return lab.run("after8", lab.server.environment(lab.account("after8", after_step8)), "after-step8")


def job_half(lab: Lab) -> TierRun:
    return lab.run("half", lab.server.environment(lab.account("half", half_done)), "part1")


def job_complete(lab: Lab) -> TierRun:
    return lab.run("complete", lab.server.environment(lab.account("complete", lab_complete)), "part2")


def job_forgotten(lab: Lab) -> TierRun:
    """The lab complete, graded more than an hour later: ECS no longer shows the stopped tasks."""
    lab.result("complete")  # the same account, once the complete lab is graded
    account = lab.account("complete", lab_complete)
    lab.change(account, forget_classifier_tasks)
    return lab.run("forgotten", lab.server.environment(account), "part2")


def job_final(lab: Lab) -> TierRun:
    """After the final clean-up, every check at once (--stage all), in English, the account masked."""
    lab.result("forgotten")  # the same account, once graded late
    account = lab.account("complete", lab_complete)
    lab.change(account, lambda _server, account: states.final_cleanup(account))
    environment = lab.server.environment(account, ECS_LAB_MASK_ACCOUNT="1")
    return lab.run("final", environment, "all", "--lang=en", account=account.id)


def job_broken(lab: Lab) -> TierRun:
    return lab.run("broken", lab.server.environment(lab.account("broken", broken)), "part2")


# In the order they start: the chain complete -> forgotten -> final first.
JOBS = {"complete": job_complete, "forgotten": job_forgotten, "final": job_final, "part1": job_part1,
        "mutation": job_mutation, "broken": job_broken, "after8": job_after8, "half": job_half,
        "one-task": job_one_task, "no-profile": job_no_profile}


def grading(job: str):
    """The test judges the run of `job` (its `run` fixture)."""

    def mark(test):
        test.job = job
        return test

    return mark


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The runs. Without xdist: this process prepares the runs of the selected tests, all at once.
    Under xdist: the first worker to get here prepares every run, and the others read them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        tmp, wanted = tmp_path_factory.mktemp("aws-tier"), {
            getattr(item.function, "job", None) for item in request.session.items if item.module is request.module}
    else:
        tmp, wanted = tmp_path_factory.getbasetemp().parent / "aws-tier", set(JOBS)
        tmp.mkdir(exist_ok=True)
        with open(tmp / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            claim = tmp / "prepared-by"
            prepared_elsewhere = claim.exists()
            if not prepared_elsewhere:
                claim.write_text(worker)
        if prepared_elsewhere:
            yield SharedRuns(tmp)
            return
    with MotoServer() as server:
        lab = Lab(server, tmp)
        for name in JOBS:
            if name in wanted:
                lab.start(name)
        yield lab
        lab.pool.shutdown(wait=True, cancel_futures=False)  # every run ends before the server stops


@pytest.fixture
def run(lab: Lab | SharedRuns, request: pytest.FixtureRequest) -> TierRun:
    return lab.result(request.function.job)


def assert_grades(run: TierRun, expected: dict[str, tuple[str, float]]) -> None:
    """`expected` checkpoints have (status, score); every other checkpoint of the aws tier is not graded."""
    wanted = {cid: expected.get(cid, ("not_graded", 0.0)) for cid in AWS_CHECKPOINTS}
    seen = {cid: grade for cid, grade in run.grades().items() if cid in AWS_CHECKPOINTS}
    assert seen == wanted, _failures(run)
    assert run.code == 0, run.output[-3000:]


def _failures(run: TierRun) -> str:
    lines = [run.output[-2000:]]
    for checkpoint in run.report["checkpoints"]:
        for check in checkpoint["checks"]:
            if check["outcome"] != "passed" and check["tier"] == "aws":
                lines.append(f"{check['nodeid']}: {check['outcome']}: {check['message'][:400]}")
    return "\n".join(lines)


def passed(points: dict[str, float]) -> dict[str, tuple[str, float]]:
    return {cid: ("passed", float(score)) for cid, score in points.items()}


def check_messages(run: TierRun, checkpoint: str) -> dict[str, tuple[str, str]]:
    """test name -> (outcome, message) of one checkpoint's aws checks."""
    return {c["name"]: (c["outcome"], c["message"]) for c in run.checkpoint(checkpoint)["checks"] if c["tier"] == "aws"}


# ---------------------------------------------------------------------------
# Grades of each state


@grading("part1")
def test_part1_running_gets_every_part1_point(run: TierRun) -> None:
    assert_grades(run, passed(PART1))
    assert "--stage part2" in run.checkpoint("task_definition")["reason"]  # other stages: not graded, and why
    answered = [e for e in run.tier["evidence"] if e["checkpoint"] == "web_service" and "answered_by" in e]
    assert sorted(answered[0]["answered_by"]) == sorted(run.extra["web_tasks"])


@grading("after8")
def test_after_step8_part1_from_cloudtrail_and_cleanup_done(run: TierRun) -> None:
    assert_grades(run, passed({**PART1, "cleanup_step8": 5}))
    web = check_messages(run, "web_service")
    assert web["test_service_was_created_with_two_tasks"][0] == "passed"
    assert web["test_alb_answers_from_two_tasks"][0] == "skipped"  # a part 1 check: not graded after step 8
    assert any(c == {"service": "cloudtrail", "operation": "LookupEvents", "count": c["count"], "allowed": True}
               for c in run.tier["calls"])


@grading("complete")
def test_lab_complete_gets_every_point(run: TierRun) -> None:
    assert_grades(run, passed({**PART1, "cleanup_step8": 5, **PART2}))
    assert run.report["score"] == 63 and run.report["bonus_score"] == 6


@grading("forgotten")
def test_tasks_forgotten_by_ecs_are_graded_from_cloudtrail_and_logs(run: TierRun) -> None:
    assert_grades(run, passed({**PART1, "cleanup_step8": 5, **PART2}))
    outcome, reason = check_messages(run, "classification_result")["test_task_stopped_with_exit_code_0"]
    assert outcome == "skipped" and "CloudTrail" in reason and "heure" in reason
    exit_evidence = next(e for e in run.tier["evidence"] if e["checkpoint"] == "bonus_task_exit_0")
    assert exit_evidence["tasks"] and not exit_evidence["tasks"][0]["in_ecs"]


@grading("final")
def test_final_cleanup_leaves_nothing_and_stage_all_runs_every_check(run: TierRun) -> None:
    # --stage all: the final clean-up passes; every other check runs and fails (the lab is gone),
    # but CloudTrail still shows that web-service was created (1 weight of web_service's 6), and
    # step 8's deletions hold (3 of 4 checks: what step 8 keeps is gone too).
    assert_grades(run, {cid: ("failed", 0.0) for cid in AWS_CHECKPOINTS} | {
        "final_cleanup": ("passed", 2.0), "web_service": ("partial", 1.67), "cleanup_step8": ("partial", 3.75)})
    # In English, the account ID masked everywhere (reports, aws-tier.json, terminal).
    feedback = " ".join(" ".join(run.checkpoint(cid)["feedback"]) for cid in AWS_CHECKPOINTS)
    assert "Stack ecs-lab-infrastructure does not exist" in feedback
    assert "bucket ecs-lab-images-************-eu-west-1" in feedback
    assert run.extra["account"] not in run.text()
    assert run.tier["account"] == "************"


@grading("half")
def test_half_done(run: TierRun) -> None:
    assert_grades(run, {**passed({"stacks": 8, "cluster": 5, "web_image_pushed": 5}),
                        "web_task_definition": ("failed", 0.0), "web_service": ("failed", 0.0)})
    assert "update-task-definitions --register" in run.checkpoint("web_task_definition")["feedback"][0]
    assert "web-service" in run.checkpoint("web_service")["feedback"][0]


@grading("one-task")
def test_one_task_answering_is_not_enough(run: TierRun) -> None:
    # The service is configured as asked (1 weight of 5); 1 task running, 1 healthy target, and the
    # ALB answered by a single task lose the rest.
    assert_grades(run, {**passed({"stacks": 8, "cluster": 5, "web_image_pushed": 5, "web_task_definition": 5}),
                        "web_service": ("partial", 2.0)})
    checks = check_messages(run, "web_service")
    assert checks["test_service_configuration"][0] == "passed"
    assert "deux tâches différentes" in checks["test_alb_answers_from_two_tasks"][1]
    assert "2 tâches RUNNING" in checks["test_two_tasks_running"][1]
    assert "2 cibles « healthy »" in checks["test_targets_healthy"][1]


@grading("broken")
def test_broken_lab_loses_exactly_what_is_broken(run: TierRun) -> None:
    assert_grades(run, {
        **passed({"stacks": 8, "web_image_pushed": 5, "web_service": 10, "task_definition": 10}),
        "cluster": ("partial", 1.67),  # active, but FARGATE_SPOT instead of FARGATE (provider and strategy)
        "web_task_definition": ("partial", 3.75),  # CPU 512: one of four checks
        "cleanup_step8": ("partial", 1.25),  # service, ALB, target group still there; the rest kept
        "classifier_image_pushed": ("failed", 0.0),  # linux/arm64 only
        "classification_result": ("failed", 0.0),  # exit code 1, no result document
        "bonus_task_exit_0": ("failed", 0.0),
        "bonus_result_in_s3": ("failed", 0.0),
    })
    feedback = " ".join(run.checkpoint("classification_result")["feedback"])
    assert "code de sortie 1" in feedback and "Essential container in task exited" in feedback
    step8 = check_messages(run, "cleanup_step8")
    assert step8["test_part2_resources_kept"][0] == "passed"
    assert "ecs-lab cleanup-step8" in step8["test_web_service_deleted"][1]
    assert "listener" in step8["test_load_balancer_and_listeners_deleted"][1]
    assert "FARGATE" in " ".join(run.checkpoint("cluster")["feedback"])
    assert "linux/amd64" in " ".join(run.checkpoint("classifier_image_pushed")["feedback"])


# ---------------------------------------------------------------------------
# Read-only, credentials, CI


@grading("mutation")
def test_a_mutating_call_is_refused_before_it_is_sent(run: TierRun) -> None:
    assert run.code == 3, run.output[-3000:]  # the run fails: a grader bug must not go unnoticed
    assert set(run.tier["refused"]) == {"ecs:UpdateService"}
    assert "non-read call(s): ecs:UpdateService" in run.output
    cluster = check_messages(run, "cluster")
    # A grader bug is never the student's failure: not graded, with the refused call named.
    assert all(outcome == "skipped" and "ecs:UpdateService" in message for outcome, message in cluster.values())
    assert run.checkpoint("cluster")["status"] == "not_graded"
    # Nothing reached the account: the service still asks for 2 tasks, and CloudTrail saw no UpdateService.
    assert run.extra["desired_count_after"] == 2
    assert "UpdateService" not in run.extra["trail_after"]


@grading("no-profile")
def test_without_credentials_the_tier_is_not_graded(run: TierRun) -> None:
    assert_grades(run, {})
    for checkpoint in ("stacks", "cluster", "web_service"):
        reason = run.checkpoint(checkpoint)["reason"]
        assert "Profil AWS « aws-labs » introuvable" in reason and "aws sso login --profile aws-labs" in reason
    assert run.tier is None  # no session, no call
