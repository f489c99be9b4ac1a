"""The web task definition, filled from the stacks' outputs (``update-task-definitions``).

The tracked file ``resources/web-service-task-definition.json`` keeps its
placeholders (``ACCOUNT_ID``, ``<ECR_WEB_URI>``); the filled copy is written
elsewhere (``build/`` by default) and can be registered as is, with boto3 or
``aws ecs register-task-definition --cli-input-json file://...``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ecslab.errors import LabError

ACCOUNT_PLACEHOLDER = "ACCOUNT_ID"
IMAGE_PLACEHOLDER = "<ECR_WEB_URI>"
WEB_TASK_DEFINITION_FILE = "web-service-task-definition.json"


def load_task_definition(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise LabError("template_missing", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise LabError("taskdef_source_invalid", path=str(path), error=f"{exc.msg} (ligne {exc.lineno})") from None
    if not isinstance(document, dict) or not document.get("containerDefinitions"):
        raise LabError("taskdef_source_invalid", path=str(path), error="containerDefinitions")
    return document


def fill_web_task_definition(
    template: dict[str, Any],
    *,
    account_id: str,
    execution_role_arn: str,
    task_role_arn: str,
    image: str,
    region: str,
) -> dict[str, Any]:
    """A filled copy of ``template``: real role ARNs, the image, the account and the region."""
    document = copy.deepcopy(template)
    document["executionRoleArn"] = execution_role_arn
    document["taskRoleArn"] = task_role_arn
    for container in document["containerDefinitions"]:
        if container.get("image", IMAGE_PLACEHOLDER) == IMAGE_PLACEHOLDER:
            container["image"] = image
        options = container.get("logConfiguration", {}).get("options", {})
        if "awslogs-region" in options:
            options["awslogs-region"] = region
    # Any other occurrence of the account placeholder (the handout's `sed`).
    text = json.dumps(document).replace(ACCOUNT_PLACEHOLDER, account_id)
    leftovers = [p for p in (ACCOUNT_PLACEHOLDER, IMAGE_PLACEHOLDER) if p in text]
    if leftovers:
        raise LabError("taskdef_placeholder_left", placeholders=", ".join(leftovers))
    return json.loads(text)


def write_task_definition(document: dict[str, Any], output: Path, source: Path) -> Path:
    """Write the filled copy; refuses to overwrite the tracked template."""
    if output.resolve() == source.resolve():
        raise LabError("taskdef_same_file", path=str(source))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return output
