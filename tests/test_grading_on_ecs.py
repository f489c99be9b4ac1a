"""`ecs-lab grade --on ecs`: a class graded by Fargate tasks (grader/ecs/), on the sandbox.

One broad run, as an instructor would do it on a laptop before pointing the same command at a real
account: `ecs-lab sandbox up`, then a class of 31 submissions (the reference, nested; the template;
one faulty submission per mistake of the corpus; correct variants; broken ones; one that hangs; one
without files) graded with `--on ecs --tasks 3`; one task is killed with `docker kill` while it
grades, and two more while they hold one same submission. The grades are those of a local `ecs-lab
grade` of the same folder, row for row: the first killed task's submission is graded again (its second
attempt is in batch.json), the one that lost two tasks is "erreur du correcteur" with their stop
reasons, no row is lost or counted twice; nothing is left running. Ctrl-C during a second run, while a
task grades that one, stops its tasks and keeps what was graded; a third grades that one only. Before
it all, `--dry-run` says the price and starts nothing, and a run without a Docker engine to build the
grader's image starts nothing either. The grading stack itself is linted and deployed on moto, and its
task role can reach no other bucket (its policy, read back from IAM).
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from grading_support import ROOT, _child_env
from sandbox_support import Sandbox, wait_until
from submissions.faults import ALTERNATIVES, BROKEN, FAULTY, materialise
from test_batch import HANG, OPS, S3_IO, _copy_reference, ecs_lab

from grader.ecs import protocol
from grader.ecs.policy import allows, role_documents
from grader.ecs.stack import TEMPLATE

TASKS = 3
TIMEOUT_S = 25  # the hanging submission's limit (it would wait minutes); the others need far less
FAMILY_LABEL = "com.amazonaws.ecs.task-definition-family"
TASK_LABEL = "com.amazonaws.ecs.task-arn"
TASKS_FILTER = {"label": f"{FAMILY_LABEL}={protocol.STACK_NAME}{protocol.FAMILY_SUFFIX}"}  # the grading tasks' containers


def _write_class(root: Path) -> Path:
    klass = root / "class"
    _copy_reference(klass / "ada" / "lab8" / "student_template")
    template = klass / "template"
    template.mkdir(parents=True)
    for name in (OPS, S3_IO):
        shutil.copyfile(ROOT / "student_template" / name, template / name)
    chosen = [*FAULTY, *(b for b in BROKEN if b.name in ("broken_syntax_error", "broken_endless_loop_at_import",
                                                          "broken_os_exit_in_method", "broken_sys_exit_at_import")),
              *(a for a in ALTERNATIVES if a.name in ("alt_waiter_monitoring", "alt_capacity_provider",
                                                       "alt_code_style", "alt_wait_condition"))]
    for entry in chosen:
        materialise(entry, klass / entry.name)
    hanging = _copy_reference(klass / "hangs")
    hanging.joinpath(OPS).write_text(hanging.joinpath(OPS).read_text() + HANG)
    (klass / "no_files").mkdir()
    (klass / "no_files" / "README.md").write_text("oublié")
    return klass


def _grade_on_ecs(sandbox: Sandbox, klass: Path, out: Path, *more: str, docker_host: str = "") -> subprocess.Popen:
    command = " ".join(["ecs-lab", "grade", str(klass), "--out", str(out), "--on", "ecs", "--tasks", str(TASKS),
                        "--timeout", str(TIMEOUT_S), "--no-progress", *more])
    env_command = " ".join(sandbox.command("env"))
    docker = {"DOCKER_HOST": docker_host} if docker_host else {}
    return subprocess.Popen(["bash", "-c", f'set -e; eval "$({env_command})"; exec {command}'], cwd=ROOT,
                            env={**sandbox.environment(), "ECS_LAB_LANG": "fr", **docker}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _kill_a_holder(sandbox: Sandbox, docker_client, *, skip: set[str], only: str | None = None,  # noqa: ANN001
                   spare: set[str] = frozenset()) -> tuple[str, str] | None:
    """`docker kill` the container of a task that took a submission less than a second ago (far from done:
    a grading takes seconds), once a first submission is graded; `only` that submission, none of `skip`, no
    task of `spare`. Returns (submission, task), or None."""
    s3 = sandbox.session().client("s3")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for bucket, keys in _runs_objects(s3):
            done = {key.rsplit("/", 1)[1][:-5] for key in keys if "/done/" in key}
            if only is not None and only in done:
                return None  # graded before its holder could be killed
            if not done:  # one graded first: the tasks are then surely running
                continue
            for key in keys:
                if "/claims/" not in key:
                    continue
                task, submission = key.split("/claims/", 1)[1].split("/")
                submission = submission[:-5]
                if submission in done or submission in skip or task in spare or only not in (None, submission):
                    continue
                claim = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                if time.time() - claim["at"] > (2.0 if only else 1.0):
                    continue
                for container in docker_client.containers.list(filters=TASKS_FILTER):
                    if container.labels.get(TASK_LABEL, "").endswith("/" + task):
                        container.kill()
                        return submission, task
        time.sleep(0.1)
    return None


def _grading_now(sandbox: Sandbox, command: subprocess.Popen, since: float) -> bool:
    """`command` runs `ecs-lab` (its shell has exec'd it) and a task took a submission after `since`
    that is not done yet."""
    try:
        if b"ecs-lab" not in Path(f"/proc/{command.pid}/cmdline").read_bytes():
            return False
    except OSError:
        return False
    s3 = sandbox.session().client("s3")
    for bucket, keys in _runs_objects(s3):
        done = {(key.split("/")[1], key.rsplit("/", 1)[1]) for key in keys if "/done/" in key}  # (run, id.json)
        for key in [k for k in keys if "/claims/" in k and (k.split("/")[1], k.rsplit("/", 1)[1]) not in done]:
            if json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["at"] >= since:
                return True
    return False


def _runs_objects(s3) -> list[tuple[str, list[str]]]:  # noqa: ANN001 - the sandbox's S3 client
    """(bucket, keys under runs/) of the grading stack's bucket."""
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"].startswith(protocol.STACK_NAME)]
    return [(bucket, [item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="runs/")
                      for item in page.get("Contents", [])]) for bucket in buckets]


@pytest.fixture(scope="module")
def graded_on_ecs(tmp_path_factory):
    import docker

    root = tmp_path_factory.mktemp("ecs")
    klass = _write_class(root)
    client = docker.from_env()
    with Sandbox(root / "sandbox") as sandbox:
        sandbox.up()
        dry = _grade_on_ecs(sandbox, klass, root / "dry", "--dry-run")
        dry_out, dry_err = dry.communicate(timeout=300)
        stacks_after_dry_run = sandbox.session().client("cloudformation").list_stacks()["StackSummaries"]
        no_docker = _grade_on_ecs(sandbox, klass, root / "no-docker", docker_host="unix:///nonexistent/docker.sock")
        no_docker_out, no_docker_err = no_docker.communicate(timeout=300)
        tasks_without_docker = sandbox.session().client("ecs").list_tasks(cluster=protocol.STACK_NAME)["taskArns"]

        run = _grade_on_ecs(sandbox, klass, root / "ecs")
        killed_once = _kill_a_holder(sandbox, client, skip={"hangs"})  # graded again by another task
        killed_twice = _kill_a_holder(sandbox, client, skip={"hangs", killed_once and killed_once[0]})
        if killed_twice is not None:  # and its second holder too: the dead-letter queue
            killed_twice = _kill_a_holder(sandbox, client, skip=set(), only=killed_twice[0], spare={killed_twice[1]})
        stdout, stderr = run.communicate(timeout=900)
        shutil.copytree(root / "ecs", root / "first-run")  # the next runs write in the same folder
        left_running = [c.name for c in client.containers.list(filters=TASKS_FILTER)]
        ecs = sandbox.session().client("ecs")
        tasks_running = ecs.list_tasks(cluster=protocol.STACK_NAME, desiredStatus="RUNNING")["taskArns"]

        # Ctrl-C while a task grades what the killed tasks left: exit 130, nothing left running, rows kept.
        # Sent to the command itself (not to the shell before its exec: bash would swallow it) once a task
        # of this run holds a submission it has not finished (a grading takes seconds).
        stopped, since = _grade_on_ecs(sandbox, klass, root / "ecs"), time.time()
        assert wait_until(lambda: _grading_now(sandbox, stopped, since), 300), stopped.communicate(timeout=60)
        stopped.send_signal(signal.SIGINT)
        stopped_out, stopped_err = stopped.communicate(timeout=300)
        shutil.copytree(root / "ecs", root / "interrupted")
        left_after_interrupt = [c.name for c in client.containers.list(filters=TASKS_FILTER)]
        running_after_interrupt = ecs.list_tasks(cluster=protocol.STACK_NAME, desiredStatus="RUNNING")["taskArns"]

        # the same command again: it grades only that one
        tasks_before = len(ecs.list_tasks(cluster=protocol.STACK_NAME, desiredStatus="STOPPED")["taskArns"])
        again = _grade_on_ecs(sandbox, klass, root / "ecs")
        again_out, again_err = again.communicate(timeout=300)
        tasks_after = len(ecs.list_tasks(cluster=protocol.STACK_NAME, desiredStatus="STOPPED")["taskArns"])
    client.close()
    local = ecs_lab("grade", str(klass), "--out", str(root / "local"), "-j", "2", "--timeout", str(TIMEOUT_S),
                    "--no-progress")
    return {
        "root": root, "klass": klass, "killed_once": killed_once and killed_once[0],
        "killed_twice": killed_twice and killed_twice[0], "left_running": left_running,
        "tasks_running": tasks_running, "new_tasks_second_run": tasks_after - tasks_before,
        "dry": (dry.returncode, dry_out, dry_err, stacks_after_dry_run),
        "no_docker": (no_docker.returncode, no_docker_out, no_docker_err, tasks_without_docker),
        "run": (run.returncode, stdout, stderr), "again": (again.returncode, again_out, again_err), "local": local,
        "interrupted": (stopped.returncode, stopped_out, stopped_err, left_after_interrupt, running_after_interrupt),
    }


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_class_graded_on_ecs_has_the_grades_of_a_local_batch(graded_on_ecs):
    code, stdout, stderr = graded_on_ecs["run"]
    assert code == 0, f"{stdout}\n{stderr}"
    assert graded_on_ecs["local"].returncode == 0, graded_on_ecs["local"].stderr
    root, lost = graded_on_ecs["root"], graded_on_ecs["killed_twice"]
    ecs_rows, local_rows = _rows(root / "first-run" / "grades.csv"), _rows(root / "local" / "grades.csv")
    assert len(ecs_rows) == 31 and len({row["id"] for row in ecs_rows}) == 31  # no row lost, none twice
    assert [row["id"] for row in ecs_rows] == [row["id"] for row in local_rows]
    differing = [(e, l) for e, l in zip(ecs_rows, local_rows) if e != l]
    assert [e["id"] for e, _ in differing] == [lost], differing  # the one whose two tasks were killed, only
    statuses = {row["id"]: row["status"] for row in ecs_rows}
    assert statuses["hangs"] != statuses["ada"] and statuses["no_files"] != statuses["ada"]
    # every graded row has its four reports, downloaded from the task that graded it
    batch = json.loads((root / "first-run" / "batch.json").read_text())
    for row in batch["rows"]:
        if row["status"] == "graded":
            assert {"report.html", "report.md", "report.json", "results.json"} <= {
                p.name for p in (root / "first-run" / row["report_dir"]).iterdir()}, row["id"]
            assert row["graded_by"], row["id"]
    # the class report and the estimate, as a local batch (plus the price)
    assert (root / "first-run" / "class-report.html").is_file()
    assert "Estimation" in stdout and "$" in stdout and "facturées" in stdout


def test_a_killed_task_loses_nothing_and_leaves_nothing_running(graded_on_ecs):
    once, twice = graded_on_ecs["killed_once"], graded_on_ecs["killed_twice"]
    assert once is not None and twice is not None, "no task was found grading"
    batch = json.loads((graded_on_ecs["root"] / "first-run" / "batch.json").read_text())
    rows = {row["id"]: row for row in batch["rows"]}
    assert rows[once]["attempts"] == 2 and rows[once]["status"] == "graded", rows[once]
    # killed twice: not graded (the grader's failure, tried again at the next run), with the tasks' stop reasons
    assert rows[twice]["status"] == "grader_error" and rows[twice]["attempts"] == 2, rows[twice]
    assert "exit code 137" in rows[twice]["reason"] and rows[twice]["graded_by"].count(",") == 1, rows[twice]
    assert graded_on_ecs["left_running"] == [] and graded_on_ecs["tasks_running"] == []


def test_a_second_run_grades_only_what_is_missing_and_a_dry_run_starts_nothing(graded_on_ecs):
    code, stdout, stderr = graded_on_ecs["again"]
    assert code == 0, stderr
    # only the one the killed tasks left ungraded is graded again
    assert "1 à noter" in stdout and graded_on_ecs["new_tasks_second_run"] == 1, stdout
    root = graded_on_ecs["root"]
    assert (root / "ecs" / "grades.csv").read_text() == (root / "local" / "grades.csv").read_text()
    code, stdout, stderr, stacks = graded_on_ecs["dry"]
    assert code == 0, stderr
    assert "Estimation : 30 rendu(s)" in stdout and "rien n'a été lancé" in stdout
    assert "serait créée" in stdout and stacks == []
    assert not (graded_on_ecs["root"] / "dry").exists()


def test_ctrl_c_stops_the_tasks_and_keeps_what_was_graded(graded_on_ecs):
    code, stdout, stderr, containers, tasks = graded_on_ecs["interrupted"]
    assert code == 130, f"{stdout}\n{stderr}"
    assert "Interrompu" in stdout and containers == [] and tasks == []
    batch = json.loads((graded_on_ecs["root"] / "interrupted" / "batch.json").read_text())
    statuses = {row["id"]: row["status"] for row in batch["rows"]}
    lost = graded_on_ecs["killed_twice"]
    assert statuses.pop(lost) == "pending"  # the one it was grading: to do
    assert list(statuses.values()).count("graded") == 28, statuses  # what was graded is kept


def test_an_image_never_pushed_without_docker_to_build_it_starts_nothing(graded_on_ecs):
    code, stdout, stderr, tasks = graded_on_ecs["no_docker"]
    assert code == 2, f"{stdout}\n{stderr}"
    assert "aucun moteur Docker" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert tasks == [] and not (graded_on_ecs["root"] / "no-docker").exists()


def test_bad_input_on_ecs_is_one_sentence_and_exit_2(tmp_path):
    klass = tmp_path / "class"
    _copy_reference(klass / "ada")
    env = {k: v for k, v in _child_env().items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    for args, says in ((["--profile", ""], "aucun identifiant AWS"), (["--cpu", "3"], "--cpu doit être"),
                       (["--tasks", "0"], "--tasks doit être"), (["--profile", "nobody"], "nobody")):
        run = subprocess.run([sys.executable, "-m", "ecslab.cli", "grade", str(klass), "--out", str(tmp_path / "out"),
                              "--on", "ecs", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert says in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert not (tmp_path / "out").exists()


def test_the_grading_stack_is_linted_deployed_and_its_role_reaches_no_other_bucket():
    import boto3
    import moto
    from cfnlint.api import lint_all

    from grader.ecs import stack as stacks
    from standin.moto_bridge import bridged

    assert [m for m in lint_all(TEMPLATE.read_text()) if m.rule.id[0] in "EW"] == []
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    bucket = template["Resources"]["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())  # private
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["Status"] == "Enabled"
    assert "SecurityGroupIngress" not in template["Resources"]["SecurityGroup"]["Properties"]
    assert template["Resources"]["Queue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 2
    with moto.mock_aws(), bridged():
        session = boto3.Session(region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        assert stacks.find(session) is None
        stack = stacks.deploy(session)
        assert stacks.find(session) == stack and stack.subnets
        documents = role_documents(session.client("iam"), stack.task_role_arn.rsplit("/", 1)[-1])
    mine, other = f"arn:aws:s3:::{stack.bucket}", "arn:aws:s3:::someone-elses-bucket"
    assert allows(documents, "s3:PutObject", f"{mine}/runs/2026/done/a.json")
    assert allows(documents, "s3:GetObject", f"{mine}/runs/2026/input/a/s3_io.py")
    for action in ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject"):
        assert not allows(documents, action, f"{other}/runs/x") and not allows(documents, action, other)
    assert not allows(documents, "s3:DeleteObject", f"{mine}/runs/x")
    assert not allows(documents, "s3:GetObject", f"{mine}/elsewhere")
    assert not allows(documents, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:other")


class _CfnLoader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !Sub, !GetAtt), kept as plain data."""


for _tag in ("!Ref", "!Sub", "!GetAtt"):
    _CfnLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node)
                               if isinstance(node, yaml.ScalarNode) else loader.construct_sequence(node))


def test_work_left_with_an_empty_queue_is_sent_again(tmp_path):
    """Messages lost (a purge deletes for a minute what is sent meanwhile): after two checks of an empty queue,
    the launcher sends what is left again."""
    import boto3
    import moto

    from grader.api import Grading
    from grader.ecs import stack as stacks
    from grader.ecs.launch import EcsSettings, Launcher
    from grader.runner import Job
    from standin.moto_bridge import bridged

    with moto.mock_aws(), bridged():
        session = boto3.Session(region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        launcher = Launcher(EcsSettings(), "fr", say=lambda _line: None, session=session, stack=stacks.deploy(session))
        pending = {"ada": Job("ada", Grading(tmp_path), None, 60.0)}
        sqs = session.client("sqs")

        def messages() -> list[dict]:
            return sqs.receive_message(QueueUrl=launcher.stack.queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=0).get("Messages", [])

        launcher._resend_lost("run-1", pending)  # first check: empty, nothing sent yet
        assert messages() == []
        launcher._resend_lost("run-1", pending)  # too soon for a second check
        assert messages() == []
        launcher._last_check -= 60
        launcher._resend_lost("run-1", pending)  # empty twice: sent again
        sent = messages()
        assert [json.loads(m["Body"])["id"] for m in sent] == ["ada"]


def test_a_role_that_cannot_write_the_bucket_is_refused_before_anything_starts():
    import boto3
    import moto

    from grader.ecs import stack as stacks
    from grader.ecs.launch import EcsSettings, Launcher, LaunchError
    from standin.moto_bridge import bridged

    with moto.mock_aws(), bridged():
        session = boto3.Session(region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        launcher = Launcher(EcsSettings(), "fr", say=lambda _line: None, session=session, stack=stacks.deploy(session))
        launcher._check_role()  # the stack's own role: allowed
        iam, role = session.client("iam"), launcher.stack.task_role_arn.rsplit("/", 1)[-1]
        document = json.loads(json.dumps(iam.get_role_policy(RoleName=role, PolicyName="grade")["PolicyDocument"]))
        document["Statement"][0]["Action"] = ["s3:GetObject"]  # an edited role: reads, cannot write
        iam.put_role_policy(RoleName=role, PolicyName="grade", PolicyDocument=json.dumps(document))
        with pytest.raises(LaunchError) as refused:
            launcher._check_role()
        assert "s3:PutObject" in refused.value.text.fr and "ne permet pas" in refused.value.text.fr
        assert session.client("ecs").list_tasks(cluster=launcher.stack.cluster)["taskArns"] == []
