"""Checkpoint web_task_definition (step 5), offline: the web task definition file.

resources/web-service-task-definition.json keeps its placeholders (the tracked file is
never edited: `ecs-lab update-task-definitions` writes a filled copy), holds every value
of the lab, and once filled is accepted by RegisterTaskDefinition. (The aws tier checks
the revision registered in the account.)
"""

import json
from pathlib import Path

import pytest

from ecslab.facts import EXECUTION_ROLE, LOG_STREAM_PREFIX, WEB_LOG_GROUP, WEB_REPOSITORY, WEB_TASK_ROLE, LabNames
from grader.feedback import expect, fail
from grader.project import LAB_RESOURCES

PROJECT_FILE = LAB_RESOURCES / "web-service-task-definition.json"


@pytest.fixture
def document(submission):
    own = submission.path / "resources" / "web-service-task-definition.json"
    path = own if own.is_file() else PROJECT_FILE
    try:
        if path.stat().st_size > 512 * 1024:
            raise ValueError("plus de 512 Kio / more than 512 KiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        fail(f"{path.name} illisible : {error}", f"{path.name} cannot be read: {error}")


def _web_container(document) -> dict:
    containers = [c for c in document.get("containerDefinitions", []) if c.get("name") == "web-app"]
    expect(containers, "La task definition web doit avoir un conteneur « web-app ».",
           "The web task definition must have a \"web-app\" container.", expected="web-app",
           seen=[c.get("name") for c in document.get("containerDefinitions", [])])
    return containers[0]


def test_task_level_settings(document):
    seen = {k: document.get(k) for k in ("family", "networkMode", "requiresCompatibilities", "cpu", "memory")}
    wanted = {"family": "ecs-web-app", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
              "cpu": "256", "memory": "512"}
    expect(seen == wanted, "Réglages de la tâche web incorrects.", "Wrong web task settings.",
           expected=wanted, seen=seen)


def test_container_port_logs_and_health_check(document):
    container = _web_container(document)
    ports = [(p.get("containerPort"), p.get("protocol", "tcp")) for p in container.get("portMappings", [])]
    expect((3000, "tcp") in ports, "Le conteneur web-app doit exposer le port 3000/tcp.",
           "The web-app container must expose port 3000/tcp.", expected=[(3000, "tcp")], seen=ports)
    options = (container.get("logConfiguration") or {}).get("options") or {}
    expect(options.get("awslogs-group") == WEB_LOG_GROUP and options.get("awslogs-stream-prefix") == LOG_STREAM_PREFIX,
           f"Les logs doivent aller dans {WEB_LOG_GROUP} avec le préfixe {LOG_STREAM_PREFIX}.",
           f"Logs must go to {WEB_LOG_GROUP} with the {LOG_STREAM_PREFIX} prefix.", seen=options)
    environment = {e.get("name"): e.get("value") for e in container.get("environment", [])}
    expect(environment.get("PORT") == "3000", "La variable PORT=3000 est attendue.", "PORT=3000 is expected.",
           seen=environment)
    command = " ".join((container.get("healthCheck") or {}).get("command", []))
    expect("localhost:3000/health" in command, "Le health check doit appeler http://localhost:3000/health.",
           "The health check must call http://localhost:3000/health.", seen=command)


def test_placeholders_fill_into_a_registrable_definition(document, account):
    from ecslab.taskdef import fill_web_task_definition

    names = LabNames()

    text = json.dumps(document)
    expect("ACCOUNT_ID" in text and "<ECR_WEB_URI>" in text,
           "Le fichier suivi garde ses marqueurs ACCOUNT_ID et <ECR_WEB_URI> : la copie remplie est "
           "écrite par « ecs-lab update-task-definitions ».",
           "The tracked file keeps its ACCOUNT_ID and <ECR_WEB_URI> placeholders: the filled copy is "
           "written by \"ecs-lab update-task-definitions\".")
    filled = fill_web_task_definition(
        document, account_id=names.account, execution_role_arn=names.role_arn(EXECUTION_ROLE),
        task_role_arn=names.role_arn(WEB_TASK_ROLE), image=f"{names.repository_uri(WEB_REPOSITORY)}:latest",
        region=names.region)
    try:
        account.client("ecs").register_task_definition(**filled)
    except Exception as error:  # noqa: BLE001 - botocore's validation message is the feedback
        fail(f"La task definition remplie est refusée par RegisterTaskDefinition : {error}",
             f"The filled task definition is refused by RegisterTaskDefinition: {error}")
