"""Checkpoint web_service (steps 6-7), aws: web-service runs 2 tasks behind the ALB, which answers.

Stage part1 (after step 7, before step 8), on the live resources:
- ECS DescribeServices: web-service ACTIVE, desired count 2, Fargate, ecs-web-app, behind
  the target group ecs-lab-tg (container web-app, port 3000), public IP (default VPC);
- ECS ListTasks/DescribeTasks: 2 of its tasks RUNNING;
- ELB DescribeTargetHealth: 2 healthy targets, the tasks' addresses;
- HTTP GET / through the ALB's DNS name: answered by at least two distinct tasks (the
  `ecs.taskArn` of the web app's `/` document), tasks of the service.

Stages after-step8 and part2: step 8 has deleted the service and the ALB, so the evidence
is CloudTrail's event history (LookupEvents, read-only, 90 days): a successful CreateService
of web-service in ecs-lab-cluster with the handout's parameters, and a desired count of 2
(in CreateService or a later UpdateService). Weaker than the live checks (it proves the
service was created as asked, not that it answered): grade Part 1 with --stage part1 before
step 8 for the full verification.
"""

import json

import pytest

from ecslab.facts import WEB_PORT
from grader.tiers.aws import lookup
from grader.feedback import expect, fail

STEP6_HINT = "étape 6 : aws ecs create-service ... --desired-count 2 --launch-type FARGATE"
HTTP_ATTEMPTS = 10
HTTP_TIMEOUT_S = 3.0


def _fargate(settings: dict) -> bool:
    strategy = settings.get("capacityProviderStrategy") or []
    return settings.get("launchType") == "FARGATE" or any(
        s.get("capacityProvider") == "FARGATE" and (s.get("weight") or 0) > 0 for s in strategy)


def _family(task_definition: str) -> str:
    return str(task_definition).rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _judge_service_settings(settings: dict, target_group_arn: str | None) -> None:
    """The parameters of step 6, as DescribeServices shows them or CreateService received them."""
    expect(_family(settings.get("taskDefinition", "")) == lookup.WEB_FAMILY,
           f"Le service doit exécuter la task definition {lookup.WEB_FAMILY}.",
           f"The service must run the {lookup.WEB_FAMILY} task definition.",
           expected=lookup.WEB_FAMILY, seen=settings.get("taskDefinition"))
    expect(_fargate(settings), "Le service doit lancer ses tâches sur Fargate (--launch-type FARGATE).",
           "The service must launch its tasks on Fargate (--launch-type FARGATE).",
           expected="FARGATE", seen=settings.get("launchType") or settings.get("capacityProviderStrategy"))
    balancers = [(b.get("containerName"), b.get("containerPort"), b.get("targetGroupArn"))
                 for b in settings.get("loadBalancers") or []]
    wanted = [b for b in balancers if b[0] == lookup.WEB_CONTAINER and b[1] == WEB_PORT
              and (b[2] == target_group_arn if target_group_arn
                   else f":targetgroup/{lookup.TARGET_GROUP}/" in str(b[2]))]
    expect(wanted, f"Le service doit être derrière le target group {lookup.TARGET_GROUP} "
                   "(conteneur web-app, port 3000).",
           f"The service must be behind the {lookup.TARGET_GROUP} target group (container web-app, port 3000).",
           expected=[(lookup.WEB_CONTAINER, WEB_PORT, target_group_arn or lookup.TARGET_GROUP)], seen=balancers)
    network = ((settings.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {})
    expect(network.get("assignPublicIp") == "ENABLED",
           "Les tâches du service ont besoin d'une IP publique dans le VPC par défaut (assignPublicIp=ENABLED).",
           "The service's tasks need a public IP in the default VPC (assignPublicIp=ENABLED).",
           expected="ENABLED", seen=network.get("assignPublicIp"))


# ---- part 1: the live service --------------------------------------------------------

@pytest.fixture(scope="module")
def service(world):
    found = lookup.service(world)
    expect(found is not None and found.get("status") == "ACTIVE",
           f"Le service {lookup.SERVICE} n'existe pas (ou plus) dans {lookup.CLUSTER} : "
           f"créez-le ({STEP6_HINT}). Vérifiez la Partie 1 avant le nettoyage de l'étape 8.",
           f"Service {lookup.SERVICE} does not exist (any more) in {lookup.CLUSTER}: create it "
           "(step 6: aws ecs create-service ... --desired-count 2 --launch-type FARGATE). Check Part 1 "
           "before the step 8 clean-up.", expected="ACTIVE", seen=(found or {}).get("status"))
    return found


@pytest.fixture(scope="module")
def running_tasks(world, service):
    return [t for t in lookup.tasks(world, desired_status="RUNNING", service_name=lookup.SERVICE)
            if t.get("lastStatus") == "RUNNING"]


@pytest.mark.stage("part1")
def test_service_configuration(world, service):
    group = lookup.target_group(world)
    _judge_service_settings(service, group["TargetGroupArn"] if group else None)
    expect(service.get("desiredCount") == 2, "Le service doit demander 2 tâches (--desired-count 2).",
           "The service must ask for 2 tasks (--desired-count 2).", expected=2, seen=service.get("desiredCount"))


@pytest.mark.stage("part1")
def test_two_tasks_running(world, service, running_tasks):
    world.note(running_tasks=[t["taskArn"] for t in running_tasks],
             running_count=service.get("runningCount"))
    expect(len(running_tasks) >= 2 and (service.get("runningCount") or 0) >= 2,
           f"{lookup.SERVICE} doit avoir 2 tâches RUNNING (aws ecs wait services-stable ; sinon lisez "
           "stoppedReason des tâches arrêtées).",
           f"{lookup.SERVICE} must have 2 RUNNING tasks (aws ecs wait services-stable; otherwise read the "
           "stoppedReason of the stopped tasks).", expected=2, seen=len(running_tasks))


@pytest.mark.stage("part1")
def test_targets_healthy(world, service, running_tasks):
    group = lookup.target_group(world)
    expect(group is not None, f"Le target group {lookup.TARGET_GROUP} n'existe pas.",
           f"Target group {lookup.TARGET_GROUP} does not exist.", expected=lookup.TARGET_GROUP, seen=lookup.NOTHING)
    health = lookup.target_health(world, group["TargetGroupArn"])
    states = {d["Target"]["Id"]: (d.get("TargetHealth") or {}).get("State") for d in health}
    healthy = {target for target, state in states.items() if state == "healthy"}
    task_addresses = set().union(*(lookup.task_ips(t) for t in running_tasks)) if running_tasks else set()
    if task_addresses:
        healthy &= task_addresses
    expect(len(healthy) >= 2,
           f"Le target group {lookup.TARGET_GROUP} doit avoir 2 cibles « healthy », les tâches du service "
           "(attendez quelques minutes ; sinon vérifiez /health et le groupe de sécurité ecs-lab-ecs-sg).",
           f"Target group {lookup.TARGET_GROUP} must have 2 healthy targets, the service's tasks (wait a few "
           "minutes; otherwise check /health and the ecs-lab-ecs-sg security group).",
           expected=2, seen=states)


@pytest.mark.stage("part1")
@pytest.mark.weight(2)
def test_alb_answers_from_two_tasks(world, service, running_tasks):
    balancer = lookup.load_balancer(world)
    expect(balancer is not None, f"L'ALB {lookup.LOAD_BALANCER} n'existe pas.",
           f"ALB {lookup.LOAD_BALANCER} does not exist.", expected=lookup.LOAD_BALANCER, seen=lookup.NOTHING)
    host = balancer["DNSName"]
    answered: list[str] = []
    problems: list[str] = []
    for _ in range(HTTP_ATTEMPTS):
        try:
            status, body = world.http_get(host, "/", timeout=HTTP_TIMEOUT_S)
        except OSError as error:
            problems.append(f"{type(error).__name__}: {error}")
            continue
        if status != 200:
            problems.append(f"HTTP {status}")
            continue
        try:
            task_arn = (json.loads(body).get("ecs") or {}).get("taskArn")
        except (ValueError, AttributeError):
            problems.append("not JSON")
            continue
        answered.append(task_arn or "?")
        if len({a for a in answered if a != "?"}) >= 2:
            break
    distinct = sorted({a for a in answered if a != "?"})
    world.note(alb=host, answered_by=distinct, problems=problems[:5])
    if not answered:
        fail(f"L'ALB ne répond pas sur http://{host}/ (attendez que les cibles soient « healthy »).",
             f"The ALB does not answer on http://{host}/ (wait until the targets are healthy).",
             expected="HTTP 200", seen=problems[:3])
    expect(len(distinct) >= 2,
           "Les réponses de l'ALB doivent venir d'au moins deux tâches différentes (ecs.taskArn du document /).",
           "The ALB's answers must come from at least two different tasks (ecs.taskArn of the / document).",
           expected="2 taskArn", seen=answered)
    if running_tasks:
        ours = {t["taskArn"] for t in running_tasks}
        strangers = [a for a in distinct if a not in ours]
        expect(not strangers, f"L'ALB répond avec des tâches qui ne sont pas celles de {lookup.SERVICE}.",
               f"The ALB answers from tasks that are not {lookup.SERVICE}'s.", expected=sorted(ours), seen=distinct)


# ---- after step 8: CloudTrail's event history -------------------------------------------

def _our_service(event) -> bool:
    cluster = str(event.request.get("cluster") or "default")
    return (event.request.get("serviceName") or event.request.get("service", "").rsplit("/", 1)[-1]) == lookup.SERVICE \
        and cluster.rsplit("/", 1)[-1] == lookup.CLUSTER


@pytest.mark.stage("after-step8", "part2")
def test_service_was_created_with_two_tasks(world):
    """CloudTrail evidence (CreateService, UpdateService) once step 8 has deleted the service."""
    created = [e for e in world.trail_events("CreateService", "ecs.amazonaws.com")
               if not e.error_code and _our_service(e)]
    if not created:
        fail(f"Aucune création de {lookup.SERVICE} dans l'historique CloudTrail des 90 derniers jours "
             f"(événement CreateService) : le service de l'étape 6 n'a pas été créé dans {lookup.CLUSTER} "
             "(ou il y a moins de 5 minutes : relancez plus tard).",
             f"No creation of {lookup.SERVICE} in the last 90 days of CloudTrail history (CreateService "
             f"event): the service of step 6 was not created in {lookup.CLUSTER} (or less than 5 minutes "
             "ago: run again later).", expected="CreateService web-service", seen=lookup.NOTHING)
    latest = created[0]
    world.note(evidence="cloudtrail", created_at=latest.time,
             desired_count=latest.request.get("desiredCount"))
    _judge_service_settings(latest.request, None)
    updates = [e for e in world.trail_events("UpdateService", "ecs.amazonaws.com")
               if not e.error_code and _our_service(e) and e.time >= latest.time]
    counts = [latest.request.get("desiredCount")] + [e.request.get("desiredCount") for e in updates]
    expect(2 in counts, "Le service doit demander 2 tâches (--desired-count 2).",
           "The service must ask for 2 tasks (--desired-count 2).", expected=2, seen=counts)
