"""The corpus of submissions that proves the offline checks can fail and grade right.

Every submission is the reference (reference/) plus a few small, documented patches; none is
a hand copy. `materialise(submission, directory)` writes one out; `python -m
tests.submissions.faults --out DIR` writes them all for a look (default: .cache/submissions).

- FAULTY: one mistake a student could make, graded alone; every offline-graded checkpoint has
  at least one that costs it and nothing else. `loses` is the exact set of checkpoints the
  grader must take points from; every other offline-graded checkpoint keeps full marks. When a
  mistake honestly breaks the end-to-end main too (the main uses every to-do), `loses` says so.
- VARIANTS: more mistakes for checkpoints FAULTY already covers, graded together in BUNDLES of
  independent faults (different checkpoints, never the main's) to keep the suite fast.
- BROKEN: a submission that does not load or kills what calls it; the run must still finish,
  write all four reports and say what is wrong, costing only the checkpoints that use the file.
- ALTERNATIVES: other correct ways to do it (what AWS accepts); they must score full marks.

`says` gives, per lost checkpoint, a fragment its feedback must contain (French, case
insensitive): the right check failed for the right reason.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from grader.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference"
RESOURCES = ROOT / "resources"
OPS = "image_classifier_operations.py"
S3_IO = "s3_io.py"
OPS_CLASS = "ImageClassifierOperations"

# Offline-graded checkpoints, by the files their checks read (grader/catalogue.yaml, `uses`).
_CATALOGUE = load_catalogue()
OFFLINE_CHECKPOINTS = frozenset(_CATALOGUE.ids("offline"))
RESOURCE_CHECKPOINTS = OFFLINE_CHECKPOINTS & _CATALOGUE.using("resources")
OPS_CHECKPOINTS = OFFLINE_CHECKPOINTS & _CATALOGUE.using("image_classifier_operations")
S3_IO_ONLY_CHECKPOINTS = (OFFLINE_CHECKPOINTS & _CATALOGUE.using("s3_io")) - OPS_CHECKPOINTS


class PatchError(ValueError):
    """A patch no longer applies to the reference: the corpus needs updating."""


@dataclass(frozen=True)
class Replace:
    """Replace `old` by `new` in `file`; `old` must occur exactly `count` times."""

    file: str
    old: str
    new: str
    count: int = 1

    def apply(self, text: str) -> str:
        found = text.count(self.old)
        if found != self.count:
            raise PatchError(f"{self.file}: expected {self.count} occurrence(s) of {self.old!r}, found {found}")
        return text.replace(self.old, self.new)


@dataclass(frozen=True)
class ReplaceDef:
    """Replace the whole function or method `name` ("Class.method" or "function") in `file`.

    `new` is written without indentation; it is indented like the definition it replaces.
    An empty `new` deletes the definition.
    """

    file: str
    name: str
    new: str

    def apply(self, text: str) -> str:
        node = _find_def(ast.parse(text), self.name)
        if node is None:
            raise PatchError(f"{self.file}: no definition {self.name!r}")
        lines = text.splitlines(keepends=True)
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        indent = " " * node.col_offset
        body = textwrap.indent(textwrap.dedent(self.new).strip("\n") + "\n", indent) if self.new else ""
        return "".join(lines[:first]) + body + "".join(lines[node.end_lineno:])


def _find_def(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    owner, _, function = name.rpartition(".")
    scope: list[ast.stmt] = tree.body
    if owner:
        classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner]
        if not classes:
            return None
        scope = classes[0].body
    found = [n for n in scope if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == function]
    return found[0] if found else None


@dataclass(frozen=True)
class Submission:
    name: str
    why: str  # what the student did (wrong, or differently)
    patches: tuple[Replace | ReplaceDef, ...]
    loses: frozenset[str] = frozenset()
    says: dict[str, str] = field(default_factory=dict)
    resources: bool = False  # ship a copy of the project's resources/ (the checks then read it)
    slow: bool = False  # takes noticeably longer to grade (a time limit is reached)
    known_gap: str = ""  # the grader does not catch this yet (the test is a strict xfail until it does)

    def __post_init__(self) -> None:
        unknown = (self.loses | set(self.says)) - OFFLINE_CHECKPOINTS
        if unknown:
            raise ValueError(f"{self.name}: not offline-graded checkpoints: {sorted(unknown)}")
        if set(self.says) - self.loses:
            raise ValueError(f"{self.name}: `says` names checkpoints it does not lose")


def _ops(old: str, new: str, count: int = 1) -> Replace:
    return Replace(OPS, old, new, count)


def _s3(old: str, new: str) -> Replace:
    return Replace(S3_IO, old, new)


def _method(name: str, new: str) -> ReplaceDef:
    return ReplaceDef(OPS, f"{OPS_CLASS}.{name}", new)


# --- Faulty submissions: one mistake each, graded alone ------------------------------------------------

FAULTY: tuple[Submission, ...] = (
    # stacks (step 2): the submission ships its own resources/
    Submission(
        "stacks_cfn_lint_error",
        "Typo in the bucket encryption (AES-256): moto deploys it, cfn-lint and AWS refuse it.",
        (Replace("resources/infrastructure.yaml", "SSEAlgorithm: AES256", "SSEAlgorithm: AES-256"),),
        loses=frozenset({"stacks"}), says={"stacks": "cfn-lint"}, resources=True,
    ),
    # web_task_definition (step 5)
    Submission(
        "web_task_definition_wrong_port",
        "The web container exposes 8080 instead of 3000.",
        (Replace("resources/web-service-task-definition.json", '"containerPort": 3000', '"containerPort": 8080'),),
        loses=frozenset({"web_task_definition"}), says={"web_task_definition": "3000"}, resources=True,
    ),
    # classifier_image_pushed (step 10)
    Submission(
        "push_ignores_stream_errors",
        "An error in the push stream is printed, not raised: a refused push looks like a success.",
        (_ops('raise RuntimeError(f"Échec du push vers {repository_uri}:{tag} : {message}")',
              'print(f"Échec du push : {message}")'),),
        loses=frozenset({"classifier_image_pushed"}), says={"classifier_image_pushed": "RuntimeError"},
    ),
    # task_definition (step 11)
    Submission(
        "task_definition_cpu_512",
        "Half a vCPU (512) instead of 1 vCPU (1024): AWS accepts it, the lab asks for 1024.",
        (_ops('cpu="1024",', 'cpu="512",'),),
        loses=frozenset({"task_definition"}), says={"task_definition": "1024"},
    ),
    Submission(
        "task_definition_wrong_log_group",
        "awslogs-group /ecs/image-classifier: the container's output goes to a group nobody reads, "
        "so the main cannot find the result either.",
        (_ops('"awslogs-group": LOG_GROUP,', '"awslogs-group": "/ecs/image-classifier",'),),
        loses=frozenset({"task_definition", "main_runs"}), says={"task_definition": "awslogs"},
    ),
    # task_run (step 11)
    Submission(
        "task_run_public_ip_disabled",
        "assignPublicIp DISABLED: in the default VPC the task cannot pull its image.",
        (_ops('"assignPublicIp": "ENABLED",', '"assignPublicIp": "DISABLED",'),),
        loses=frozenset({"task_run"}), says={"task_run": "assignPublicIp"},
    ),
    Submission(
        "task_run_launch_type_ec2",
        "launchType EC2: the lab's cluster has no EC2 instance, no task starts (S3 run and main included).",
        (_ops('launchType="FARGATE",', 'launchType="EC2",'),),
        loses=frozenset({"task_run", "bonus_s3_uris", "main_runs"}),
    ),
    Submission(
        "task_run_wrong_container_name",
        "The command override names a container 'classifier' that the task definition does not have "
        "(shared by the S3 run).",
        (_ops('{"name": CONTAINER_NAME, "command": ["python", "classifier.py", *arguments]}',
              '{"name": "classifier", "command": ["python", "classifier.py", *arguments]}'),),
        loses=frozenset({"task_run", "bonus_s3_uris", "main_runs"}), says={"task_run": "image-classifier"},
    ),
    # task_monitoring (step 11)
    Submission(
        "monitor_busy_loop",
        "No pause between two describe_tasks: the loop hammers the ECS API.",
        (_ops("            time.sleep(min(poll_interval, remaining))\n", ""),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "poll_interval"},
    ),
    Submission(
        "monitor_ignores_poll_interval",
        "Polls every second whatever poll_interval says.",
        (_ops("time.sleep(min(poll_interval, remaining))", "time.sleep(1)"),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "poll_interval"},
    ),
    Submission(
        "monitor_any_stop_is_success",
        "Returns the task as soon as it is STOPPED, whatever its exit code: the main then reports "
        "success for a failed task too.",
        (_ops("                return self._check_stopped_task(task)\n", "                return task\n"),),
        loses=frozenset({"task_monitoring", "main_runs"}), says={"task_monitoring": "TaskFailedError"},
    ),
    # classification_result (step 12)
    Submission(
        "result_first_page_only",
        "Forgets to send nextToken: the same first page comes back, the end of the stream is never read.",
        (_ops("            if token:\n                params[\"nextToken\"] = token\n", ""),),
        loses=frozenset({"classification_result"}), says={"classification_result": "toutes les pages"},
    ),
    Submission(
        "result_wrong_stream_prefix",
        "Reads the stream ecs-lab/image-classifier/<id> instead of ecs/... (awslogs-stream-prefix is \"ecs\"): "
        "CloudWatch (moto) answers \"log group does not exist\"; the feedback must name both streams.",
        (_ops('stream_name = f"{LOG_STREAM_PREFIX}/{CONTAINER_NAME}/{task_id}"',
              'stream_name = f"ecs-lab/{CONTAINER_NAME}/{task_id}"'),),
        loses=frozenset({"classification_result", "main_runs"}),
        says={"classification_result": "ecs-lab/image-classifier/", "main_runs": "flux de logs lu n'existe pas"},
    ),
    # main_runs (step 12): the main is given code, but a student can break it
    Submission(
        "main_lets_exceptions_escape",
        "Re-raises TaskFailedError in the main: a failed task ends in a traceback.",
        (_ops("    except TaskFailedError as error:\n"
              '        print(f"Erreur : la tâche a échoué ({error}). Consultez les logs dans {LOG_GROUP}.")\n'
              "        return 1\n",
              "    except TaskFailedError:\n        raise\n"),),
        loses=frozenset({"main_runs"}), says={"main_runs": "TaskFailedError"},
    ),
    Submission(
        "main_returns_none",
        "The main forgets `return 0` at the end.",
        (_ops('    print("Classification terminée avec succès.")\n    return 0\n',
              '    print("Classification terminée avec succès.")\n'),),
        loses=frozenset({"main_runs"}), says={"main_runs": "renvoyer 0"},
    ),
    # bonus
    Submission(
        "s3_uris_not_validated",
        "parse_s3_uri strips the prefix without validating: https://..., bucket/key or s3://bucket pass.",
        (_s3('    if not isinstance(uri, str) or not uri.startswith("s3://"):\n'
             '        raise ValueError(f"URI S3 invalide (attendu s3://bucket/cle) : {uri!r}")\n'
             '    bucket, _, key = uri[len("s3://"):].partition("/")\n'
             "    if not bucket or not key:\n"
             '        raise ValueError(f"URI S3 invalide (bucket ou clé manquant) : {uri!r}")\n',
             '    bucket, _, key = uri.removeprefix("s3://").partition("/")\n'),),
        loses=frozenset({"bonus_s3_uris"}), says={"bonus_s3_uris": "ValueError"},
    ),
    Submission(
        "s3_download_returns_the_stream",
        "download_image returns the StreamingBody, not its bytes.",
        (_s3('return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()',
             'return s3_client.get_object(Bucket=bucket, Key=key)["Body"]'),),
        loses=frozenset({"bonus_s3_download"}), says={"bonus_s3_download": "bytes"},
    ),
    Submission(
        "s3_upload_no_content_type",
        "The result is uploaded without ContentType (binary/octet-stream).",
        (_s3('        ContentType="application/json",\n', ""),),
        loses=frozenset({"bonus_s3_upload"}), says={"bonus_s3_upload": "application/json"},
    ),
    Submission(
        "result_in_s3_not_decoded",
        "download_s3_result returns the raw bytes instead of the decoded JSON document.",
        (_ops("        result = json.loads(body)\n        _print_predictions(result)\n        return result\n",
              "        return body\n"),),
        loses=frozenset({"bonus_result_in_s3"}), says={"bonus_result_in_s3": "json"},
    ),
)


# Second variants of mistakes whose checkpoint already has a fault graded alone (FAULTY). To keep
# the suite fast they are graded in BUNDLES: each joins faults of different checkpoints, none of them
# the main's, so a fault that reaches beyond its checkpoint still shows.
VARIANTS: tuple[Submission, ...] = (
    Submission(
        "stacks_missing_output",
        "The LoadBalancerDNS output is misspelt (LoadBalancerDns): an output the lab reads is missing.",
        (Replace("resources/infrastructure.yaml", "  LoadBalancerDNS:\n", "  LoadBalancerDns:\n"),),
        loses=frozenset({"stacks"}), says={"stacks": "LoadBalancerDNS"}, resources=True,
    ),
    Submission(
        "push_logs_in_with_raw_token",
        "Docker login with the base64 token itself instead of its decoded password.",
        (_ops("docker_client.login(username=username, password=password, registry=registry)",
              'docker_client.login(username="AWS", password=authorization["authorizationToken"], '
              "registry=registry)"),),
        loses=frozenset({"classifier_image_pushed"}), says={"classifier_image_pushed": "jeton décodé"},
    ),
    Submission(
        "task_run_url_missing",
        "The image URL is not passed to the container's command.",
        (_ops("cluster_name, task_definition_arn, subnet_ids, security_group_id, [image_url]",
              "cluster_name, task_definition_arn, subnet_ids, security_group_id, []"),),
        loses=frozenset({"task_run"}), says={"task_run": "classifier.py"},
    ),
    Submission(
        "monitor_no_timeout",
        "Never gives up: a task stuck in RUNNING is polled forever.",
        (_ops("            remaining = deadline - time.monotonic()\n"
              "            if remaining <= 0:\n"
              "                raise TimeoutError(\n"
              '                    f"La tâche n\'est pas arrêtée après {timeout:.0f} s (dernier statut : {status})."\n'
              "                )\n"
              "            time.sleep(min(poll_interval, remaining))\n",
              "            time.sleep(poll_interval)\n"),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "sans fin"},
    ),
    Submission(
        "monitor_prints_every_poll",
        "Prints the status at every poll, not once per change.",
        (_ops("            if status != last_status:\n"
              '                print(f"Statut de la tâche : {status}")\n'
              "                last_status = status\n",
              '            print(f"Statut de la tâche : {status}")\n'),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "une seule fois"},
    ),
    Submission(
        "monitor_ignores_failures",
        "Does not look at describe_tasks' failures (IndexError on an empty task list).",
        (_ops("            if response.get(\"failures\"):\n"
              "                reason = \"; \".join(\n"
              "                    f\"{f.get('reason', '')} {f.get('detail', '')}\".strip() for f in response[\"failures\"]\n"
              "                )\n"
              "                raise TaskFailedError(f\"ECS signale un échec pour la tâche : {reason}\", None, reason)\n",
              ""),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "failures"},
    ),
    Submission(
        "result_returns_none",
        "Returns None when no result document is found instead of raising.",
        (_ops('raise ValueError(f"Aucun document résultat dans le flux {stream_name} de {log_group}.")',
              "return None"),),
        loses=frozenset({"classification_result"}), says={"classification_result": "exception"},
    ),
    Submission(
        "s3_upload_writes_nothing",
        "upload_result builds the request but never sends it.",
        (_s3("    s3_client.put_object(\n", "    request = dict(\n"),),
        loses=frozenset({"bonus_s3_upload"}), says={"bonus_s3_upload": "output/result.json"},
    ),
)


def bundle(name: str, *entries: Submission) -> Submission:
    """One submission made of independent faults of different checkpoints."""
    lost = [c for e in entries for c in e.loses]
    if len(lost) != len(set(lost)) or "main_runs" in lost:
        raise ValueError(f"{name}: bundled faults must cost different checkpoints, not the main")
    return Submission(
        name,
        " + ".join(f"[{e.name}] {e.why}" for e in entries),
        tuple(p for e in entries for p in e.patches),
        loses=frozenset(lost),
        says={k: v for e in entries for k, v in e.says.items()},
        resources=any(e.resources for e in entries),
    )


_VARIANT = {v.name: v for v in VARIANTS}
BUNDLES: tuple[Submission, ...] = (
    bundle("variants_1", *(_VARIANT[n] for n in ("monitor_no_timeout", "stacks_missing_output",
                                                 "push_logs_in_with_raw_token"))),
    bundle("variants_2", *(_VARIANT[n] for n in ("monitor_prints_every_poll", "task_run_url_missing",
                                                 "result_returns_none"))),
    bundle("variants_3", *(_VARIANT[n] for n in ("monitor_ignores_failures", "s3_upload_writes_nothing"))),
)


# Mistakes only the lab's own template rules catch (cfn-lint and moto accept them).
LAB_RULES: tuple[Submission, ...] = (
    Submission(
        "stacks_wrong_ports",
        "The ECS security group and the target group use port 8080 instead of 3000: the web service "
        "never becomes healthy. cfn-lint and moto accept it; the lab's rules (grader/judges/templates.py) "
        "do not.",
        (Replace("resources/infrastructure.yaml", "          FromPort: 3000\n          ToPort: 3000\n",
                 "          FromPort: 8080\n          ToPort: 8080\n"),
         Replace("resources/infrastructure.yaml", "      Port: 3000\n", "      Port: 8080\n")),
        loses=frozenset({"stacks"}), resources=True,
    ),
)


# --- Broken submissions: the run completes, the report is complete, the cost is contained -------

# Every checkpoint whose checks use image_classifier_operations.py (the s3_io parsing checks of
# bonus_s3_uris still pass: that checkpoint loses its weighted S3-run check only).
_ALL_OPS = OPS_CHECKPOINTS

BROKEN: tuple[Submission, ...] = (
    Submission(
        "broken_endless_loop_at_import",
        "s3_io.py waits forever at import (a loop at module level): only the s3_io checkpoints are lost.",
        (Replace(S3_IO, "import json\n",
                 "import json\nimport time\n\nwhile True:  # attend un fichier qui n'arrive jamais\n"
                 "    time.sleep(0.5)\n"),),
        loses=frozenset({"bonus_s3_uris", "bonus_s3_download", "bonus_s3_upload"}),
        says={"bonus_s3_download": "ne se termine pas"}, slow=True,
    ),
    Submission(
        "broken_syntax_error",
        "A missing colon in image_classifier_operations.py.",
        (_ops('    ) -> dict:\n        """Suit la tâche', '    ) -> dict\n        """Suit la tâche'),),
        loses=_ALL_OPS, says={"task_definition": "SyntaxError"},
    ),
    Submission(
        "broken_import_error",
        "Imports a module that does not exist (botocore.exception).",
        (_ops("from botocore.exceptions import BotoCoreError, ClientError",
              "from botocore.exception import BotoCoreError, ClientError"),),
        loses=_ALL_OPS, says={"task_run": "ModuleNotFoundError"},
    ),
    Submission(
        "broken_sys_exit_at_import",
        "The main runs at import (no `if __name__ == \"__main__\":` guard) and calls sys.exit.",
        (_ops('if __name__ == "__main__":\n    sys.exit(', "sys.exit("),),
        loses=_ALL_OPS, says={"classifier_image_pushed": "SystemExit"},
    ),
    Submission(
        "broken_missing_method",
        "monitor_task renamed to monitor: the main cannot chain the steps either.",
        (_ops("    def monitor_task(\n", "    def monitor(\n"),),
        loses=frozenset({"task_monitoring", "main_runs"}), says={"task_monitoring": "introuvable"},
    ),
    Submission(
        "broken_exception_in_init",
        "A typo in the provided __init__ (NameError): every method is out of reach.",
        (_ops('self.ecs = self.session.client("ecs", region_name=region)',
              'self.ecs = self.session.client("ecs", region_name=regoin)'),),
        loses=_ALL_OPS, says={"task_definition": "NameError"},
    ),
    Submission(
        "broken_os_exit_at_import",
        "s3_io.py calls os._exit(0) at import (no exception, exit code 0): only the s3_io checkpoints are lost.",
        (Replace(S3_IO, "import json\n", "import json\nimport os\n\nos._exit(0)\n"),),
        loses=frozenset({"bonus_s3_uris", "bonus_s3_download", "bonus_s3_upload"}),
        says={"bonus_s3_upload": "os._exit"},
    ),
    Submission(
        "broken_os_exit_in_method",
        "monitor_task calls os._exit(1) when ECS reports a failure (would kill the grading process).",
        (_ops('                raise TaskFailedError(f"ECS signale un échec pour la tâche : {reason}", None, reason)\n',
              '                print(f"Échec : {reason}")\n                import os\n                os._exit(1)\n'),),
        loses=frozenset({"task_monitoring"}), says={"task_monitoring": "os._exit"},
    ),
)


# --- Alternative correct submissions: full marks ----------------------------------------------

_WAITER_MONITOR = '''
def monitor_task(
    self, cluster_name: str, task_arn: str, poll_interval: float = 30.0, timeout: float = 900.0
) -> dict:
    """Suit la tâche avec le waiter « tasks_stopped » de botocore."""
    first = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])
    if first.get("failures"):
        reason = str(first["failures"])
        raise TaskFailedError(f"ECS signale un échec : {reason}", None, reason)
    status = first["tasks"][0]["lastStatus"]
    print(f"Statut de la tâche : {status}")
    delay = max(1, int(poll_interval))
    waiter = self.ecs.get_waiter("tasks_stopped")
    try:
        waiter.wait(cluster=cluster_name, tasks=[task_arn],
                    WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout // delay))})
    except WaiterError as error:
        failures = (error.last_response or {}).get("failures")
        if failures:
            raise TaskFailedError(f"ECS signale un échec : {failures}", None, str(failures)) from error
        raise TimeoutError(f"La tâche n'est pas arrêtée après {timeout:.0f} s.") from error
    task = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])["tasks"][0]
    if task["lastStatus"] != status:
        print(f"Statut de la tâche : {task['lastStatus']}")
    return self._check_stopped_task(task)
'''

_STYLE_PUSH = '''
def push_image_to_ecr(self, local_image, repository_uri, tag="latest", docker_client=None):
    """Pousse l'image avec l'API bas niveau du SDK Docker."""
    if docker_client is None:
        import docker
        docker_client = docker.from_env()
    token = self.ecr.get_authorization_token()
    data = token["authorizationData"][0]
    user, secret = base64.b64decode(data["authorizationToken"]).decode("utf-8").split(":", 1)
    api = docker_client.api
    api.login(user, password=secret, registry=data["proxyEndpoint"])
    api.tag(local_image, repository_uri, tag)
    for line in api.push(repository_uri, tag=tag, stream=True, decode=True):
        if "error" in line:
            raise RuntimeError(line["error"])
    return repository_uri + ":" + tag
'''

_STYLE_REGISTER = '''
def register_image_classifier_task_definition(self, ecr_uri, task_role_arn, execution_role_arn):
    """Task definition : tailles lisibles, mémoire du conteneur, variables et tags en plus."""
    container = {
        "name": CONTAINER_NAME,
        "image": ecr_uri,
        "memory": 2048,
        "environment": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-stream-prefix": LOG_STREAM_PREFIX,
                "awslogs-region": self.region,
                "awslogs-group": LOG_GROUP,
            },
        },
    }
    definition = dict(
        containerDefinitions=[container],
        executionRoleArn=execution_role_arn,
        taskRoleArn=task_role_arn,
        memory="2 GB",
        cpu="1 vCPU",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        family=TASK_FAMILY,
        tags=[{"key": "project", "value": "ecs-lab"}],
    )
    return self.ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
'''

_STYLE_RUN = '''
def _run_classifier(self, cluster_name, task_definition_arn, subnet_ids, security_group_id, arguments):
    override = {
        "name": CONTAINER_NAME,
        "command": ["python", "classifier.py"] + list(arguments),
        "environment": [{"name": "LOG_LEVEL", "value": "INFO"}],
    }
    network = {"subnets": subnet_ids, "securityGroups": [security_group_id], "assignPublicIp": "ENABLED"}
    response = self.ecs.run_task(
        overrides={"containerOverrides": [override]},
        networkConfiguration={"awsvpcConfiguration": network},
        launchType="FARGATE",
        taskDefinition=task_definition_arn,
        cluster=cluster_name,
        tags=[{"key": "project", "value": "ecs-lab"}],
    )
    tasks = response["tasks"]
    if len(tasks) == 0:
        raise RuntimeError("run_task n'a lancé aucune tâche : " + repr(response["failures"]))
    return tasks[0]["taskArn"]
'''

_STYLE_MONITOR = '''
def monitor_task(self, cluster_name, task_arn, poll_interval=30.0, timeout=900.0):
    """Un nombre borné d'interrogations plutôt qu'une échéance."""
    seen = []
    for attempt in range(int(timeout // poll_interval) + 1):
        if attempt:
            time.sleep(poll_interval)
        response = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])
        if response["failures"]:
            raise TaskFailedError("échec ECS : " + repr(response["failures"]), None, repr(response["failures"]))
        task = response["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
            print("Statut :", task["lastStatus"])
        if task["lastStatus"] == "STOPPED":
            return self._check_stopped_task(task)
    raise TimeoutError(f"toujours {seen[-1]} après {timeout} s")
'''

_STYLE_RESULT = '''
def get_classification_result(self, task_arn, log_group=LOG_GROUP):
    """Lit le flux de la tâche avec le paginateur de filter_log_events."""
    stream = "/".join([LOG_STREAM_PREFIX, CONTAINER_NAME, task_arn.split("/")[-1]])
    documents = []
    paginator = self.logs.get_paginator("filter_log_events")
    for page in paginator.paginate(logGroupName=log_group, logStreamNames=[stream]):
        documents += [d for d in map(_parse_result_document, (e["message"] for e in page["events"])) if d]
    if not documents:
        raise LookupError("pas de résultat dans " + stream)
    _print_predictions(documents[-1])
    return documents[-1]
'''

def _clock_monitor(deadline: str, expired: str, wait: str, imports: str = "") -> str:
    """monitor_task with another way of keeping its time limit and of waiting between polls."""
    return f'''
def monitor_task(self, cluster_name, task_arn, poll_interval=30.0, timeout=900.0):
    """Suit la tâche jusqu'à STOPPED, avec une autre horloge."""
    {imports}
    {deadline}
    last_status = None
    while True:
        response = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])
        if response.get("failures"):
            reason = str(response["failures"])
            raise TaskFailedError(f"ECS signale un échec : {{reason}}", None, reason)
        task = response["tasks"][0]
        if task["lastStatus"] != last_status:
            last_status = task["lastStatus"]
            print(f"Statut de la tâche : {{last_status}}")
        if last_status == "STOPPED":
            return self._check_stopped_task(task)
        if {expired}:
            raise TimeoutError(f"La tâche n'est pas arrêtée après {{timeout}} s.")
        {wait}
'''


ALTERNATIVES: tuple[Submission, ...] = (
    Submission(
        "alt_waiter_monitoring",
        "monitor_task with botocore's tasks_stopped waiter (WaiterConfig from poll_interval and timeout; "
        "WaiterError turned into TaskFailedError or TimeoutError).",
        (_ops("from botocore.exceptions import BotoCoreError, ClientError",
              "from botocore.exceptions import BotoCoreError, ClientError, WaiterError"),
         _method("monitor_task", _WAITER_MONITOR)),
    ),
    Submission(
        "alt_capacity_provider",
        "Fargate through capacityProviderStrategy instead of launchType.",
        (_ops('launchType="FARGATE",', 'capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],'),),
    ),
    Submission(
        "alt_code_style",
        "Another style: low-level Docker API; task definition with '1 vCPU'/'2 GB', container memory, "
        "extra environment and tags, other keyword order; run_task with extra environment override and "
        "tags; a bounded for-loop monitor; logs read with the filter_log_events paginator.",
        (_method("push_image_to_ecr", _STYLE_PUSH),
         _method("register_image_classifier_task_definition", _STYLE_REGISTER),
         _method("_run_classifier", _STYLE_RUN),
         _method("monitor_task", _STYLE_MONITOR),
         _method("get_classification_result", _STYLE_RESULT)),
    ),
)

def _pause(body: str, imports: str) -> str:
    """A local `pause(seconds)` of monitor_task (its body indented by 4), after `imports`."""
    return imports + "\n    def pause(seconds):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8)


_ASYNCIO_MONITOR = '''
def monitor_task(self, cluster_name, task_arn, poll_interval=30.0, timeout=900.0):
    """Suit la tâche dans une boucle asyncio : describe_tasks dans un thread, pauses asyncio.sleep."""
    import asyncio

    async def follow():
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_status = None
        while True:
            response = await loop.run_in_executor(
                None, lambda: self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn]))
            if response.get("failures"):
                reason = str(response["failures"])
                raise TaskFailedError(f"ECS signale un échec : {reason}", None, reason)
            task = response["tasks"][0]
            if task["lastStatus"] != last_status:
                last_status = task["lastStatus"]
                print(f"Statut de la tâche : {last_status}")
            if last_status == "STOPPED":
                return self._check_stopped_task(task)
            if loop.time() >= deadline:
                raise TimeoutError(f"La tâche n'est pas arrêtée après {timeout} s.")
            await asyncio.sleep(poll_interval)

    return asyncio.run(follow())
'''

# The same monitor_task with the clocks and the ways of waiting a student may use: each must keep
# full marks, in both worker modes (the time shim, grader/worker/clock/, makes every timed wait
# of the student's processes virtual: sleeps, locks, conditions, queues, selectors, event loops,
# timers, alarms, child processes).
CLOCK_STYLES: tuple[Submission, ...] = (
    Submission(
        "alt_clock_datetime",
        "monitor_task's deadline with datetime.datetime.now() + timedelta.",
        (_method("monitor_task", _clock_monitor(
            "deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)",
            "datetime.datetime.now() >= deadline", "time.sleep(poll_interval)", "import datetime")),),
    ),
    Submission(
        "alt_clock_time_time",
        "monitor_task's deadline with time.time().",
        (_method("monitor_task", _clock_monitor("deadline = time.time() + timeout", "time.time() >= deadline",
                                                "time.sleep(poll_interval)")),),
    ),
    Submission(
        "alt_clock_perf_counter_ns",
        "monitor_task's deadline with time.perf_counter_ns().",
        (_method("monitor_task", _clock_monitor(
            "started = time.perf_counter_ns()", "(time.perf_counter_ns() - started) / 1e9 >= timeout",
            "time.sleep(poll_interval)")),),
    ),
    Submission(
        "alt_clock_event_wait",
        "monitor_task waits with threading.Event().wait(poll_interval), deadline with time.monotonic().",
        (_method("monitor_task", _clock_monitor(
            "deadline, pause = time.monotonic() + timeout, threading.Event()", "time.monotonic() >= deadline",
            "pause.wait(poll_interval)", "import threading")),),
    ),
    Submission(
        "alt_wait_asyncio_sleep",
        "monitor_task pauses with asyncio.run(asyncio.sleep(poll_interval)).",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.monotonic() + timeout", "time.monotonic() >= deadline",
            "asyncio.run(asyncio.sleep(poll_interval))", "import asyncio")),),
    ),
    Submission(
        "alt_wait_asyncio_loop",
        "monitor_task is an asyncio loop: describe_tasks in the default executor, loop.time() deadline, "
        "await asyncio.sleep.",
        (_method("monitor_task", _ASYNCIO_MONITOR),),
    ),
    Submission(
        "alt_wait_selector",
        "monitor_task pauses with selectors.DefaultSelector().select(poll_interval) (no descriptor registered).",
        (_method("monitor_task", _clock_monitor(
            "deadline, selector = time.time() + timeout, selectors.DefaultSelector()", "time.time() >= deadline",
            "selector.select(poll_interval)", "import selectors")),),
    ),
    Submission(
        "alt_wait_condition",
        "monitor_task pauses with threading.Condition().wait(poll_interval).",
        (_method("monitor_task", _clock_monitor(
            "deadline, ready = time.monotonic() + timeout, threading.Condition()", "time.monotonic() >= deadline",
            "pause(poll_interval)", _pause("""
            with ready:
                ready.wait(seconds)
            """, "import threading"))),),
    ),
    Submission(
        "alt_wait_queue",
        "monitor_task pauses with queue.Queue().get(timeout=poll_interval) (queue.Empty caught).",
        (_method("monitor_task", _clock_monitor(
            "deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)",
            "datetime.datetime.now() >= deadline", "pause(poll_interval)", _pause("""
            try:
                queue.Queue().get(timeout=seconds)
            except queue.Empty:
                pass
            """, "import datetime, queue"))),),
    ),
    Submission(
        "alt_wait_timer",
        "monitor_task pauses with a threading.Timer(poll_interval) it starts and joins.",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.monotonic() + timeout", "time.monotonic() >= deadline", "pause(poll_interval)",
            _pause("""
            timer = threading.Timer(seconds, lambda: None)
            timer.start()
            timer.join()
            """, "import threading"))),),
    ),
    Submission(
        "alt_wait_select",
        "monitor_task pauses with select.select([], [], [], poll_interval).",
        (_method("monitor_task", _clock_monitor(
            "started = time.perf_counter()", "time.perf_counter() - started >= timeout",
            "select.select([], [], [], poll_interval)", "import select")),),
    ),
    Submission(
        "alt_wait_child_process",
        "monitor_task pauses with a child process: subprocess.run([\"sleep\", str(poll_interval)]).",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.monotonic() + timeout", "time.monotonic() >= deadline",
            "subprocess.run([\"sleep\", str(poll_interval)], check=True)", "import subprocess")),),
    ),
    Submission(
        "alt_wait_multiprocessing",
        "monitor_task pauses in another process: multiprocessing.Process(target=time.sleep), started and joined.",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.monotonic() + timeout", "time.monotonic() >= deadline", "pause(poll_interval)",
            _pause("""
            child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(seconds,))
            child.start()
            child.join()
            """, "import multiprocessing"))),),
    ),
    Submission(
        "alt_wait_setitimer",
        "monitor_task pauses with signal.setitimer(ITIMER_REAL, poll_interval) and signal.pause() (SIGALRM handled).",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.time() + timeout", "time.time() >= deadline", "pause(poll_interval)", _pause("""
            signal.signal(signal.SIGALRM, lambda number, frame: None)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            signal.pause()
            """, "import signal"))),),
    ),
    Submission(
        "alt_wait_socket_timeout",
        "monitor_task pauses by reading a silent socket with a timeout (socket.socketpair, settimeout).",
        (_method("monitor_task", _clock_monitor(
            "deadline, (quiet, _other) = time.monotonic() + timeout, socket.socketpair()",
            "time.monotonic() >= deadline", "pause(poll_interval)", _pause("""
            quiet.settimeout(seconds)
            try:
                quiet.recv(1)
            except socket.timeout:
                pass
            """, "import socket"))),),
    ),
    Submission(
        "alt_wait_futures",
        "monitor_task pauses with concurrent.futures.wait([a future nobody completes], timeout=poll_interval).",
        (_method("monitor_task", _clock_monitor(
            "deadline = time.monotonic() + timeout", "time.monotonic() >= deadline",
            "concurrent.futures.wait([concurrent.futures.Future()], timeout=poll_interval)",
            "import concurrent.futures")),),
    ),
)
ALTERNATIVES = ALTERNATIVES + CLOCK_STYLES

# What tests/test_grading.py grades, and everything (for the command line and the corpus tests).
GRADED: tuple[Submission, ...] = FAULTY + BUNDLES + LAB_RULES + BROKEN + ALTERNATIVES
CORPUS: tuple[Submission, ...] = FAULTY + VARIANTS + BUNDLES + LAB_RULES + BROKEN + ALTERNATIVES


def by_name(name: str) -> Submission:
    return next(s for s in CORPUS if s.name == name)


def materialise(submission: Submission, directory: Path) -> Path:
    """Write `submission` into `directory` (created, must be empty or absent); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in (OPS, S3_IO):
        shutil.copyfile(REFERENCE / name, directory / name)
    if submission.resources:
        shutil.copytree(RESOURCES, directory / "resources", dirs_exist_ok=True)
    for patch in submission.patches:
        path = directory / patch.file
        if not path.is_file():
            raise PatchError(f"{submission.name}: {patch.file} is not part of the submission")
        text = path.read_text(encoding="utf-8")
        patched = patch.apply(text)
        if patched == text:
            raise PatchError(f"{submission.name}: patch of {patch.file} changes nothing")
        path.write_text(patched, encoding="utf-8")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the grading corpus (one directory per submission).")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache" / "submissions")
    parser.add_argument("names", nargs="*", help="only these submissions (default: all)")
    args = parser.parse_args(argv)
    for submission in CORPUS:
        if args.names and submission.name not in args.names:
            continue
        target = args.out / submission.name
        if target.exists():
            shutil.rmtree(target)
        materialise(submission, target)
        print(f"{target}  loses: {', '.join(sorted(submission.loses)) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
