"""Task definitions judged the same way whatever the evidence.

The offline tier judges the parameters the student's code sent to RegisterTaskDefinition;
the aws tier judges the latest revision registered in the account (DescribeTaskDefinition).
Both have the same shape, so the same rules apply, and what AWS accepts is accepted:
"1 vCPU"/"2 GB" spellings, `essential` left to its default, extra environment variables.
Each function fails the current check (grader.feedback) with bilingual feedback.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecslab import facts
from grader.feedback import Text, expect


@dataclass(frozen=True)
class TaskDefinitionSpec:
    """What the lab expects of one task definition, and how to say where each value comes from."""

    family: str
    container: str
    cpu: tuple[str, ...]  # accepted spellings, lower case without spaces (first: the canonical one)
    memory: tuple[str, ...]
    cpu_text: Text  # "« 1024 » (1 vCPU)"
    memory_text: Text
    task_role_arn: str
    execution_role_arn: str
    image: str  # repository URI with its tag (…/ecs-lab/image-classifier:latest)
    log_group: str
    region: str
    stream_prefix: str = "ecs"
    # Wording: where the expected values come from, and what the task role is for.
    role_origin: Text = Text("reçu en paramètre", "given as a parameter")
    image_origin: Text = Text("reçue en paramètre", "given as a parameter")
    task_role_purpose: Text = Text("accès S3 du classificateur", "the classifier's S3 access")
    accept_image_digest: bool = False  # the same repository by digest (repo@sha256:...) is the same image


def classifier_spec(*, task_role_arn: str, execution_role_arn: str, image: str, region: str, **wording) -> TaskDefinitionSpec:
    """The classifier's task definition (handout step 11)."""
    return TaskDefinitionSpec(
        family=facts.CLASSIFIER_FAMILY, container=facts.CLASSIFIER_CONTAINER,
        cpu=("1024", "1vcpu"), memory=("2048", "2gb"),
        cpu_text=Text("« 1024 » (1 vCPU)", "\"1024\" (1 vCPU)"),
        memory_text=Text("« 2048 » (2 Go)", "\"2048\" (2 GB)"),
        task_role_arn=task_role_arn, execution_role_arn=execution_role_arn, image=image,
        log_group=facts.CLASSIFIER_LOG_GROUP, region=region, **wording,
    )


def web_spec(*, task_role_arn: str, execution_role_arn: str, image: str, region: str, **wording) -> TaskDefinitionSpec:
    """The web application's task definition (handout step 5, resources/web-service-task-definition.json)."""
    return TaskDefinitionSpec(
        family="ecs-web-app", container="web-app",
        cpu=("256", ".25vcpu", "0.25vcpu"), memory=("512", "0.5gb", ".5gb", "512mb"),
        cpu_text=Text("« 256 » (0,25 vCPU)", "\"256\" (0.25 vCPU)"),
        memory_text=Text("« 512 » (512 Mo)", "\"512\" (512 MB)"),
        task_role_arn=task_role_arn, execution_role_arn=execution_role_arn, image=image,
        log_group=facts.WEB_LOG_GROUP, region=region,
        task_role_purpose=Text("métriques CloudWatch de l'application web", "the web application's CloudWatch metrics"),
        **wording,
    )


def container(td: dict, spec: TaskDefinitionSpec) -> dict:
    """The spec's container in `td` (fails when there is none)."""
    definitions = td.get("containerDefinitions") or []
    found = [c for c in definitions if c.get("name") == spec.container]
    expect(found, f"La task definition doit contenir un conteneur nommé « {spec.container} ».",
           f"The task definition must have a container named \"{spec.container}\".",
           expected=spec.container, seen=[c.get("name") for c in definitions])
    return found[0]


def family_network_fargate(td: dict, spec: TaskDefinitionSpec) -> None:
    expect(td.get("family") == spec.family, f"La famille doit être « {spec.family} ».",
           f"The family must be \"{spec.family}\".", expected=spec.family, seen=td.get("family"))
    expect(td.get("networkMode") == "awsvpc", "Fargate exige le mode réseau « awsvpc ».",
           "Fargate requires the \"awsvpc\" network mode.", expected="awsvpc", seen=td.get("networkMode"))
    expect("FARGATE" in (td.get("requiresCompatibilities") or []),
           "requiresCompatibilities doit contenir « FARGATE ».", "requiresCompatibilities must contain \"FARGATE\".",
           expected=["FARGATE"], seen=td.get("requiresCompatibilities"))


def _spelling(value) -> str:
    return str(value if value is not None else "").strip().lower().replace(" ", "")


def cpu_and_memory(td: dict, spec: TaskDefinitionSpec) -> None:
    expect(_spelling(td.get("cpu")) in spec.cpu, f"Le CPU de la tâche doit être {spec.cpu_text.fr}.",
           f"The task CPU must be {spec.cpu_text.en}.", expected=spec.cpu[0], seen=td.get("cpu"))
    expect(_spelling(td.get("memory")) in spec.memory, f"La mémoire de la tâche doit être {spec.memory_text.fr}.",
           f"The task memory must be {spec.memory_text.en}.", expected=spec.memory[0], seen=td.get("memory"))


def roles(td: dict, spec: TaskDefinitionSpec) -> None:
    expect(td.get("taskRoleArn") == spec.task_role_arn,
           f"taskRoleArn doit être le rôle de tâche {spec.role_origin.fr} ({spec.task_role_purpose.fr}).",
           f"taskRoleArn must be the task role {spec.role_origin.en} ({spec.task_role_purpose.en}).",
           expected=spec.task_role_arn, seen=td.get("taskRoleArn"))
    expect(td.get("executionRoleArn") == spec.execution_role_arn,
           f"executionRoleArn doit être le rôle d'exécution {spec.role_origin.fr} (pull ECR, logs).",
           f"executionRoleArn must be the execution role {spec.role_origin.en} (ECR pull, logs).",
           expected=spec.execution_role_arn, seen=td.get("executionRoleArn"))


def _same_image(seen, spec: TaskDefinitionSpec) -> bool:
    if seen == spec.image:
        return True
    repository = spec.image.rsplit(":", 1)[0]
    return spec.accept_image_digest and isinstance(seen, str) and seen.startswith(f"{repository}@sha256:")


def essential_container_with_image(td: dict, spec: TaskDefinitionSpec) -> None:
    found = container(td, spec)
    expect(_same_image(found.get("image"), spec),
           f"Le conteneur doit utiliser l'image ECR {spec.image_origin.fr}.",
           f"The container must use the ECR image {spec.image_origin.en}.", expected=spec.image, seen=found.get("image"))
    expect(found.get("essential", True) is True, "Le conteneur doit être essentiel (essential=True).",
           "The container must be essential (essential=True).", expected=True, seen=found.get("essential"))


def awslogs(td: dict, spec: TaskDefinitionSpec) -> None:
    config = container(td, spec).get("logConfiguration") or {}
    options = config.get("options") or {}
    expect(config.get("logDriver") == "awslogs", "Les logs du conteneur doivent utiliser le pilote « awslogs ».",
           "The container's logs must use the \"awslogs\" driver.", expected="awslogs", seen=config.get("logDriver"))
    wanted = {"awslogs-group": spec.log_group, "awslogs-region": spec.region,
              "awslogs-stream-prefix": spec.stream_prefix}
    seen = {key: options.get(key) for key in wanted}
    expect(seen == wanted, "Options awslogs incorrectes (groupe, région, préfixe de flux).",
           "Wrong awslogs options (group, region, stream prefix).", expected=wanted, seen=seen)


def web_port_environment_and_health_check(td: dict, spec: TaskDefinitionSpec) -> None:
    """The web container: port 3000/tcp, PORT=3000, a health check on /health (step 5)."""
    found = container(td, spec)
    port, url = facts.WEB_PORT, f"localhost:{facts.WEB_PORT}{facts.WEB_HEALTH_PATH}"
    ports = [(p.get("containerPort"), p.get("protocol", "tcp")) for p in found.get("portMappings") or []]
    expect((port, "tcp") in ports, f"Le conteneur {spec.container} doit exposer le port {port}/tcp.",
           f"The {spec.container} container must expose port {port}/tcp.", expected=[(port, "tcp")], seen=ports)
    environment = {e.get("name"): e.get("value") for e in found.get("environment") or []}
    expect(environment.get("PORT") == str(port), f"La variable PORT={port} est attendue.", f"PORT={port} is expected.",
           expected=f"PORT={port}", seen=f"PORT={environment.get('PORT')}")  # never the whole environment
    command = " ".join((found.get("healthCheck") or {}).get("command") or [])
    expect(url in command, f"Le health check doit appeler http://{url}.",
           f"The health check must call http://{url}.", seen=command or None)
