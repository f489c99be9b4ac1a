"""The ``ecs-lab`` command on in-process moto: every command, run twice, and its error messages."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import boto3
import pytest
from ecslab_support.moto_env import *  # noqa: F401,F403 - fixtures
from ecslab_support.moto_env import (
    ACCOUNT,
    REGION,
    WEB_TASK_DEFINITION,
    session_factory,
)

import ecslab
from ecslab.aws import make_session
from ecslab.cli import main
from ecslab.errors import LabError
from ecslab.stacks import deploy_lab_stacks
from ecslab.submission import SubmissionError, load_module

CLUSTER = "ecs-lab-cluster"
BUCKET = f"ecs-lab-images-{ACCOUNT}-{REGION}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put_image(session: boto3.Session, repository: str, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
        "layers": [],
    }
    session.client("ecr").put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)


def start_part_one(session: boto3.Session, cli, tmp_path: Path) -> dict:
    """The account as after handout step 7: stacks, cluster, web task definition, service behind the ALB."""
    assert cli("deploy").code == 0
    outputs = deploy_lab_stacks(session)
    ecs = session.client("ecs")
    ecs.create_cluster(
        clusterName=CLUSTER,
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    put_image(session, "ecs-lab/web-app", "latest")
    filled = tmp_path / "web.json"
    assert cli("update-task-definitions", "--output", str(filled), "--register").code == 0
    subnets = outputs["SubnetIds"].split(",")[:2]
    network = {"awsvpcConfiguration": {
        "subnets": subnets, "securityGroups": [outputs["ECSSecurityGroup"]], "assignPublicIp": "ENABLED",
    }}
    ecs.create_service(
        cluster=CLUSTER, serviceName="web-service", taskDefinition="ecs-web-app", desiredCount=2,
        launchType="FARGATE", networkConfiguration=network,
        loadBalancers=[{"targetGroupArn": outputs["TargetGroup"], "containerName": "web-app", "containerPort": 3000}],
    )
    return {"outputs": outputs, "network": network}


def run_one_task(session: boto3.Session, network: dict) -> str:
    """A running task. moto's RunTask crashes on containers without `memory` (a moto bug, Fargate does
    not need it), so this registers a patched copy for moto only."""
    ecs = session.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition="ecs-web-app")["taskDefinition"]
    container = dict(definition["containerDefinitions"][0], memory=512)
    arn = ecs.register_task_definition(
        family="image-classifier", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="1024", memory="2048", containerDefinitions=[dict(container, name="image-classifier")],
    )["taskDefinition"]["taskDefinitionArn"]
    response = ecs.run_task(cluster=CLUSTER, taskDefinition=arn, launchType="FARGATE", networkConfiguration=network)
    assert not response["failures"]
    return response["tasks"][0]["taskArn"]


# ---------------------------------------------------------------------------
# default-vpc and deploy


def test_default_vpc_prints_exports(cli, moto_session) -> None:
    result = cli("default-vpc")
    assert result.code == 0
    lines = dict(line.removeprefix("export ").split("=", 1) for line in result.out.splitlines())
    vpc = moto_session.client("ec2").describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    assert lines["DEFAULT_VPC_ID"] == vpc["VpcId"]
    subnets = lines["DEFAULT_SUBNET_IDS"].split(",")
    zones = {s["AvailabilityZone"] for s in moto_session.client("ec2").describe_subnets(SubnetIds=subnets)["Subnets"]}
    assert len(subnets) >= 2 and len(zones) == len(subnets)
    assert "VPC par défaut" in result.err  # human text on stderr, so that eval "$(...)" works


def test_default_vpc_without_default_vpc(cli, moto_session) -> None:
    ec2 = moto_session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    result = cli("default-vpc")
    assert result.code == 1
    assert "zone(s) de disponibilité" in result.err


def test_deploy_twice(cli, moto_session, capsys) -> None:
    sent: dict[str, dict] = {}

    def recording_factory(profile, region):
        session = session_factory(profile, region)
        def record(params, **_):
            sent[params["StackName"]] = params
        session.events.register("provide-client-params.cloudformation.CreateStack", record)
        return session

    assert main(["deploy"], session_factory=recording_factory) == 0
    first = capsys.readouterr()
    assert "Pile ecs-lab-infrastructure créée." in first.out
    assert "Pile ecs-lab-iam-roles créée." in first.out
    assert "WebAppECRRepository = " in first.out
    stacks = moto_session.client("cloudformation").describe_stacks()["Stacks"]
    assert {s["StackName"]: s["StackStatus"] for s in stacks} == {
        "ecs-lab-infrastructure": "CREATE_COMPLETE", "ecs-lab-iam-roles": "CREATE_COMPLETE",
    }
    # moto does not keep capabilities: check what was sent.
    assert sent["ecs-lab-infrastructure"]["Capabilities"] == ["CAPABILITY_IAM"]
    assert sent["ecs-lab-iam-roles"]["Capabilities"] == ["CAPABILITY_NAMED_IAM"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in sent["ecs-lab-infrastructure"]["Parameters"]}
    assert set(parameters) == {"ProjectName", "VpcId", "SubnetIds"} and parameters["ProjectName"] == "ecs-lab"

    second = cli("deploy")
    assert second.code == 0
    assert "Rien à faire" in second.out
    assert "créée" not in second.out and "mise à jour." not in second.out


def test_deploy_uses_the_exported_network(cli, moto_session, monkeypatch) -> None:
    ec2 = moto_session.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnets = sorted(s["SubnetId"] for s in found)[:2]
    result = cli("deploy", "--vpc-id", vpc, "--subnet-ids", ",".join(subnets))
    assert result.code == 0, result.err
    assert f"SubnetIds = {','.join(subnets)}" in result.out


def test_deploy_needs_the_vpc_and_its_subnets_together(cli, monkeypatch) -> None:
    result = cli("deploy", "--vpc-id", "vpc-123")
    assert result.code == 1
    assert "--vpc-id et --subnet-ids" in result.err


def test_deploy_updates_a_changed_stack(cli, moto_session, tmp_path, monkeypatch) -> None:
    assert cli("deploy").code == 0
    resources = tmp_path / "resources"
    resources.mkdir()
    source = Path(__file__).resolve().parents[1] / "resources"
    (resources / "iam-roles.yaml").write_text((source / "iam-roles.yaml").read_text().replace(
        "Role of the web application containers", "Role of the web app containers"))
    (resources / "infrastructure.yaml").write_text((source / "infrastructure.yaml").read_text())
    monkeypatch.setenv("ECS_LAB_RESOURCES", str(resources))
    result = cli("deploy")
    assert result.code == 0, result.err
    assert "Pile ecs-lab-iam-roles mise à jour." in result.out
    assert "Pile ecs-lab-infrastructure déjà à jour" in result.out


# ---------------------------------------------------------------------------
# update-task-definitions


def test_the_filled_copy_goes_to_build_beside_the_projects_resources(tmp_path, monkeypatch) -> None:
    """LAB.md reads build/web-service-task-definition.json from the project's root: the default output
    is there, not in ecslab/ where the link to resources/ lives (once a failure of the handout test);
    an installed copy of the lab writes in the current folder."""
    from ecslab import stacks

    monkeypatch.delenv("ECS_LAB_RESOURCES", raising=False)
    assert stacks.build_dir() == Path(__file__).resolve().parents[1] / "build"
    monkeypatch.setenv("ECS_LAB_RESOURCES", str(Path(stacks.__file__).parent / "copied-resources"))
    monkeypatch.chdir(tmp_path)
    assert stacks.build_dir() == tmp_path / "build"


def test_update_task_definitions_writes_a_filled_copy(cli, moto_session, tmp_path) -> None:
    tracked = sha256(WEB_TASK_DEFINITION)
    assert cli("deploy").code == 0
    output = tmp_path / "build" / "web-service-task-definition.json"
    for _ in range(2):  # idempotent: same copy, tracked file untouched
        result = cli("update-task-definitions", "--output", str(output))
        assert result.code == 0, result.err
        assert sha256(WEB_TASK_DEFINITION) == tracked
    text = output.read_text()
    assert "ACCOUNT_ID" not in text and "<ECR_WEB_URI>" not in text
    filled = json.loads(text)
    outputs = deploy_lab_stacks(moto_session)
    assert filled["executionRoleArn"] == outputs["ECSTaskExecutionRoleArn"]
    assert filled["taskRoleArn"] == outputs["WebAppTaskRoleArn"]
    (container,) = filled["containerDefinitions"]
    assert container["image"] == outputs["WebAppECRRepository"] + ":latest"
    assert container["logConfiguration"]["options"]["awslogs-region"] == REGION
    # Everything else is the tracked document, unchanged.
    original = json.loads(WEB_TASK_DEFINITION.read_text())
    for key in ("family", "cpu", "memory", "networkMode", "requiresCompatibilities"):
        assert filled[key] == original[key]
    # Valid for RegisterTaskDefinition as is (what `aws ecs register-task-definition --cli-input-json` sends).
    registered = moto_session.client("ecs").register_task_definition(**filled)["taskDefinition"]
    assert registered["family"] == "ecs-web-app"


def test_update_task_definitions_register(cli, moto_session, tmp_path) -> None:
    assert cli("deploy").code == 0
    result = cli("update-task-definitions", "--output", str(tmp_path / "td.json"), "--register")
    assert result.code == 0, result.err
    assert "task-definition/ecs-web-app:1" in result.out
    definition = moto_session.client("ecs").describe_task_definition(taskDefinition="ecs-web-app")["taskDefinition"]
    assert definition["taskRoleArn"].endswith(":role/ecs-lab-web-app-task-role")
    assert ACCOUNT in definition["executionRoleArn"]


def test_update_task_definitions_refuses_to_edit_the_tracked_file(cli, moto_session) -> None:
    tracked = sha256(WEB_TASK_DEFINITION)
    assert cli("deploy").code == 0
    result = cli("update-task-definitions", "--output", str(WEB_TASK_DEFINITION))
    assert result.code == 1
    assert "refus d'écraser" in result.err
    assert sha256(WEB_TASK_DEFINITION) == tracked


def test_update_task_definitions_without_stacks(cli, tmp_path) -> None:
    result = cli("update-task-definitions", "--output", str(tmp_path / "td.json"))
    assert result.code == 1
    assert "ecs-lab-infrastructure" in result.err and "n'existe pas" in result.err
    assert "ecs-lab deploy" in result.err
    assert not (tmp_path / "td.json").exists()


# ---------------------------------------------------------------------------
# cleanup-step8 and cleanup


def test_cleanup_step8_twice(cli, moto_session, tmp_path) -> None:
    state = start_part_one(moto_session, cli, tmp_path)
    first = cli("cleanup-step8")
    assert first.code == 0, first.err
    assert "Service web-service supprimé" in first.out
    assert "Load balancer ecs-lab-alb supprimé." in first.out
    assert "Target group ecs-lab-tg supprimé." in first.out

    ecs, elbv2 = moto_session.client("ecs"), moto_session.client("elbv2")
    services = ecs.describe_services(cluster=CLUSTER, services=["web-service"])["services"]
    assert all(s["status"] == "INACTIVE" for s in services)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    # Kept for Part 2: cluster, bucket, repositories, security groups, roles, stacks.
    assert ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["status"] == "ACTIVE"
    moto_session.client("s3").head_bucket(Bucket=BUCKET)
    assert len(moto_session.client("ecr").describe_repositories()["repositories"]) == 2
    ec2 = moto_session.client("ec2")
    outputs = state["outputs"]
    ec2.describe_security_groups(GroupIds=[outputs["ECSSecurityGroup"], outputs["LoadBalancerSecurityGroup"]])
    moto_session.client("iam").get_role(RoleName="ecs-lab-image-classifier-task-role")

    second = cli("cleanup-step8")
    assert second.code == 0
    assert "Rien à faire" in second.out
    assert "supprimé" not in second.out.replace("déjà supprimés", "")


def test_cleanup_twice_leaves_nothing(cli, moto_session, tmp_path) -> None:
    state = start_part_one(moto_session, cli, tmp_path)
    run_one_task(moto_session, state["network"])
    put_image(moto_session, "ecs-lab/image-classifier", "latest")
    put_image(moto_session, "ecs-lab/image-classifier", "v2")
    s3 = moto_session.client("s3")
    # moto's CloudFormation ignores VersioningConfiguration: turn it on as AWS would have.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two", b"three"):
        s3.put_object(Bucket=BUCKET, Key="input/image.jpg", Body=body)
    s3.put_object(Bucket=BUCKET, Key="output/result.json", Body=b"{}")
    s3.delete_object(Bucket=BUCKET, Key="output/result.json")  # leaves a delete marker

    first = cli("cleanup")
    assert first.code == 0, first.err
    assert "Bucket ecs-lab-images-123456789012-eu-west-1 vidé (5 version(s)" in first.out
    assert "Cluster ecs-lab-cluster supprimé." in first.out
    assert "1 tâche(s) arrêtée(s)." in first.out
    assert "2 image(s) supprimée(s) du dépôt ECR ecs-lab/image-classifier." in first.out
    assert "Nettoyage terminé" in first.out

    ecs = moto_session.client("ecs")
    assert ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["status"] == "INACTIVE"
    assert ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"] == []
    assert moto_session.client("cloudformation").describe_stacks()["Stacks"] == []
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert moto_session.client("ecr").describe_repositories()["repositories"] == []
    assert moto_session.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    roles = [r["RoleName"] for r in moto_session.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith("ecs-lab-")]
    groups = moto_session.client("logs").describe_log_groups(logGroupNamePrefix="/ecs/ecs-lab/")["logGroups"]
    assert groups == []

    second = cli("cleanup")
    assert second.code == 0
    assert "Rien à faire : toutes les ressources du lab sont déjà supprimées." in second.out
    assert second.out.count("\n") == 1


def test_cleanup_after_step8(cli, moto_session, tmp_path) -> None:
    start_part_one(moto_session, cli, tmp_path)
    assert cli("cleanup-step8").code == 0
    result = cli("cleanup")
    assert result.code == 0, result.err
    assert moto_session.client("cloudformation").describe_stacks()["Stacks"] == []
    assert cli("cleanup-step8").out.startswith("Rien à faire")


def test_cleanup_on_an_empty_account(cli) -> None:
    result = cli("cleanup")
    assert (result.code, result.out.strip()) == (0, "Rien à faire : toutes les ressources du lab sont déjà supprimées.")
    result = cli("--lang", "en", "cleanup-step8")
    assert (result.code, result.out.strip()) == (
        0, "Nothing to do: the web service, the ALB and the target group are already deleted."
    )


# ---------------------------------------------------------------------------
# run-classifier and push: the student's code


def write_submission(directory: Path, body: str, extra: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "image_classifier_operations.py").write_text(textwrap.dedent(body))
    for name, text in (extra or {}).items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


RECORDING_MAIN = """
    import json, s3_io
    TIGER_URL = "https://example.com/tiger.jpg"
    def run_image_classification_lab(image_url=TIGER_URL, region="eu-west-1", session=None):
        account = session.client("sts").get_caller_identity()["Account"]
        print(json.dumps({"url": image_url, "region": region, "account": account, "helper": s3_io.NAME}))
        return {code}
"""


@pytest.mark.parametrize("code", [0, 3])
def test_run_classifier_returns_the_students_exit_code(cli, tmp_path, code) -> None:
    submission = write_submission(tmp_path / "sub", RECORDING_MAIN.replace("{code}", str(code)),
                                  {"s3_io.py": "NAME = 'sibling'\n"})
    result = cli("run-classifier", "--submission", str(submission), "--image-url", "https://example.com/cat.png")
    assert result.code == code
    seen = json.loads(result.out.strip().splitlines()[-1])
    assert seen == {"url": "https://example.com/cat.png", "region": REGION, "account": ACCOUNT, "helper": "sibling"}


def test_run_classifier_uses_the_default_image(cli, tmp_path) -> None:
    submission = write_submission(tmp_path / "sub", RECORDING_MAIN.replace("{code}", "0"),
                                  {"s3_io.py": "NAME = 'x'\n"})
    result = cli("run-classifier", "--submission", str(submission))
    assert json.loads(result.out.strip().splitlines()[-1])["url"] == "https://example.com/tiger.jpg"


@pytest.mark.parametrize(
    "body,expected",
    [
        ("def run_image_classification_lab(**kw):\n    raise ValueError('boom')\n", "ValueError: boom"),
        ("import sys\ndef run_image_classification_lab(**kw):\n    sys.exit(4)\n", None),
        ("def run_image_classification_lab(**kw):\n    return None\n", "au lieu d'un code de sortie"),
        ("def run_image_classification_lab(**kw)\n    return 0\n", "erreur de syntaxe"),
        ("import not_a_module_xyz\n", "ne peut pas être importé"),
        ("raise SystemExit(0)\n", "a échoué au chargement"),
        ("X = 1\n", "run_image_classification_lab est introuvable"),
    ],
    ids=["raises", "sys-exit", "returns-none", "syntax", "import", "exit-at-import", "missing"],
)
def test_run_classifier_broken_submissions(cli, tmp_path, body, expected) -> None:
    submission = write_submission(tmp_path / "sub", body)
    result = cli("run-classifier", "--submission", str(submission))
    if expected is None:
        assert result.code == 4
    else:
        assert result.code == 1
        assert expected in result.err


def test_run_classifier_missing_submission(cli, tmp_path) -> None:
    result = cli("run-classifier", "--submission", str(tmp_path / "nowhere"))
    assert result.code == 1
    assert "n'existe pas" in result.err


class FakeDocker:
    """Records what the lab's push does with the Docker SDK."""

    def __init__(self, push_stream: list[dict], local_images: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple] = []
        self.push_stream = push_stream
        self.local_images = set(local_images)
        self.images = self

    def ping(self) -> bool:
        return True

    def login(self, **kwargs) -> None:
        self.calls.append(("login", kwargs))

    def get(self, name: str):
        from docker.errors import ImageNotFound

        if name not in self.local_images:
            raise ImageNotFound(f"No such image: {name}")
        client = self

        class Image:
            def tag(self, repository, tag=None):
                client.calls.append(("tag", name, repository, tag))
                return True

        return Image()

    def push(self, repository, tag=None, **kwargs):
        self.calls.append(("push", repository, tag))
        return iter(self.push_stream)


@pytest.fixture
def fake_images(monkeypatch):
    """Stands in for ecslab.images (written elsewhere; needs a Docker engine)."""
    for name in ("ECS_LAB_BASE_IMAGE", "ECS_LAB_BUILD_NETWORK"):  # set by scripts/run-tests.sh
        monkeypatch.delenv(name, raising=False)
    built = []
    module = types.ModuleType("ecslab.images")

    def build_web_image(docker_client, tag, base_image=None, network_mode=None):
        built.append(("web", tag, base_image))
        docker_client.local_images.add(tag)
        return "sha256:" + "0" * 64

    def build_classifier_image(docker_client, submission_dir, tag, model_dir=None, base_image=None,
                               network_mode=None):
        built.append(("classifier", Path(submission_dir), tag, model_dir))
        docker_client.local_images.add(tag)
        return "sha256:" + "1" * 64

    module.build_web_image = build_web_image
    module.build_classifier_image = build_classifier_image
    monkeypatch.setitem(sys.modules, "ecslab.images", module)
    # Once the real module has been imported (by another test in this process), `from ecslab
    # import images` reads the package attribute, not sys.modules: replace both.
    monkeypatch.setattr(ecslab, "images", module, raising=False)
    return built


@pytest.mark.parametrize("stream,code", [([{"status": "Pushed"}], 0), ([{"error": "denied: no"}], 1)])
def test_push_web(cli, moto_session, monkeypatch, fake_images, stream, code) -> None:
    docker = FakeDocker(stream)
    monkeypatch.setattr("ecslab.registry.docker_client", lambda: docker)
    outputs = deploy_lab_stacks(moto_session)
    result = cli("push", "web")
    assert result.code == code
    repository = outputs["WebAppECRRepository"]
    login = docker.calls[0]
    assert login[0] == "login" and login[1]["username"] == "AWS"
    assert login[1]["registry"].startswith("https://")
    assert fake_images == [("web", "web-app:latest", None)]  # no local image yet: built first
    assert ("tag", "web-app:latest", repository, "latest") in docker.calls
    assert ("push", repository, "latest") in docker.calls
    if code:
        assert "denied: no" in result.err


def test_push_classifier_calls_the_students_code(cli, moto_session, fake_images, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("ecslab.registry.docker_client", lambda: FakeDocker([]))
    outputs = deploy_lab_stacks(moto_session)
    submission = write_submission(tmp_path / "sub", """
        class ImageClassifierOperations:
            def __init__(self, region="eu-west-1", session=None):
                self.region, self.session = region, session
            def push_image_to_ecr(self, local_image, repository_uri, tag="latest", docker_client=None):
                print("PUSH", local_image, repository_uri, self.region)
                return f"{repository_uri}:{tag}"
    """)
    result = cli("push", "classifier", "--submission", str(submission))
    assert result.code == 0, result.err
    repository = outputs["ClassifierECRRepository"]
    assert f"PUSH image-classifier:latest {repository} {REGION}" in result.out
    assert f"Image poussée : {repository}:latest" in result.out
    assert fake_images == [("classifier", submission, "image-classifier:latest", None)]


def test_push_web_uses_the_built_image(cli, moto_session, monkeypatch, fake_images) -> None:
    docker = FakeDocker([{"status": "Pushed"}], local_images=("web-app:latest",))
    monkeypatch.setattr("ecslab.registry.docker_client", lambda: docker)
    deploy_lab_stacks(moto_session)
    result = cli("push", "web")
    assert result.code == 0, result.err
    assert fake_images == []  # `ecs-lab build web` was run before: nothing rebuilt
    assert "Image locale web-app:latest trouvée" in result.out
    assert cli("push", "web", "--build").code == 0
    assert fake_images == [("web", "web-app:latest", None)]


def test_build_needs_no_aws(cli, monkeypatch, fake_images, tmp_path) -> None:
    docker = FakeDocker([])
    monkeypatch.setattr("ecslab.registry.docker_client", lambda: docker)
    assert cli("build", "classifier", "--submission", str(tmp_path), "--model-dir", str(tmp_path)).code == 0
    assert fake_images == [("classifier", tmp_path, "image-classifier:latest", tmp_path)]
    assert "image-classifier:latest" in docker.local_images


def test_push_classifier_template_not_implemented(cli, moto_session, fake_images, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("ecslab.registry.docker_client", lambda: FakeDocker([]))
    deploy_lab_stacks(moto_session)
    submission = write_submission(tmp_path / "sub", """
        class ImageClassifierOperations:
            def __init__(self, region="eu-west-1", session=None):
                pass
            def push_image_to_ecr(self, local_image, repository_uri, tag="latest", docker_client=None):
                raise NotImplementedError("À implémenter")
    """)
    result = cli("push", "classifier", "--submission", str(submission))
    assert result.code == 1
    assert "push_image_to_ecr a levé une exception : NotImplementedError: À implémenter" in result.err


# ---------------------------------------------------------------------------
# Credentials and sessions: one clear message, no traceback


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No credentials anywhere, and a HOME of our own (with an expired SSO login when asked)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def write_expired_sso_profile(home: Path) -> None:
    aws = home / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    (aws / "config").write_text(textwrap.dedent("""
        [profile aws-labs]
        sso_session = labs
        sso_account_id = 123456789012
        sso_role_name = Student
        region = eu-west-1

        [sso-session labs]
        sso_start_url = https://example.awsapps.com/start
        sso_region = eu-west-1
        sso_registration_scopes = sso:account:access
    """))
    token = {"startUrl": "https://example.awsapps.com/start", "region": "eu-west-1",
             "accessToken": "expired", "expiresAt": "2020-01-01T00:00:00Z"}
    (aws / "sso" / "cache" / f"{hashlib.sha1(b'labs').hexdigest()}.json").write_text(json.dumps(token))


def run_main(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err


def test_missing_profile(no_aws, capsys) -> None:
    code, err = run_main(capsys, "cleanup")
    assert code == 1
    assert "le profil AWS « aws-labs » n'existe pas" in err


def test_no_credentials(no_aws, capsys) -> None:
    code, err = run_main(capsys, "--profile", "", "deploy")
    assert code == 1
    assert "aucun identifiant AWS" in err and "aws sso login --profile aws-labs" in err


def test_expired_sso_token(no_aws, capsys) -> None:
    write_expired_sso_profile(no_aws)
    code, err = run_main(capsys, "cleanup-step8")
    assert code == 1
    assert "aws sso login --profile aws-labs" in err
    assert "expiré" in err


def test_expired_sso_token_in_english(no_aws, capsys) -> None:
    write_expired_sso_profile(no_aws)
    code, err = run_main(capsys, "--lang", "en", "deploy")
    assert code == 1
    assert err.startswith("Error: your AWS session has expired")


def test_endpoint_url_makes_the_profile_optional(no_aws, monkeypatch) -> None:
    with pytest.raises(LabError) as raised:
        make_session("aws-labs", REGION)
    assert raised.value.key == "profile_not_found"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    session = make_session("aws-labs", REGION)
    assert session.region_name == REGION and session.profile_name == "default"


def test_console_script_has_no_traceback(no_aws) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from ecslab.cli import main; sys.exit(main())", "cleanup"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Erreur : le profil AWS")


def test_usage_error(capsys) -> None:
    assert main(["push", "database"]) == 2
    assert "Erreur :" in capsys.readouterr().err


def test_options_after_the_command(cli) -> None:
    result = cli("cleanup", "--lang", "en", "--region", REGION)
    assert result.out.startswith("Nothing to do")


# ---------------------------------------------------------------------------
# Loading submissions


def test_load_module_keeps_submissions_apart(tmp_path) -> None:
    for name in ("a", "b"):
        write_submission(tmp_path / name, "import s3_io\nWHO = s3_io.WHO\n", {"s3_io.py": f"WHO = {name!r}\n"})
    assert load_module(tmp_path / "a", "image_classifier_operations").WHO == "a"
    assert load_module(tmp_path / "b", "image_classifier_operations").WHO == "b"


def test_load_module_syntax_error(tmp_path) -> None:
    write_submission(tmp_path / "s", "def broken(:\n    pass\n")
    with pytest.raises(SubmissionError) as raised:
        load_module(tmp_path / "s", "image_classifier_operations")
    assert raised.value.key == "submission_syntax_error"
    assert raised.value.params["line"] == 1
    assert "image_classifier_operations" not in sys.modules


# ---------------------------------------------------------------------------
# The real console path: a moto server behind AWS_ENDPOINT_URL, no profile configured


def test_console_script_against_a_moto_server(no_aws) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://{host}:{port}",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

        def ecs_lab(*argv: str) -> subprocess.CompletedProcess:
            result = subprocess.run([sys.executable, "-m", "ecslab.cli", *argv], env=env,
                                    capture_output=True, text=True, timeout=120)
            assert "Traceback" not in result.stderr
            return result

        deployed = ecs_lab("deploy")
        assert deployed.returncode == 0, deployed.stderr
        assert "Pile ecs-lab-iam-roles créée." in deployed.stdout
        cleaned = ecs_lab("cleanup")
        assert cleaned.returncode == 0, cleaned.stderr
        assert "Nettoyage terminé" in cleaned.stdout
        again = ecs_lab("cleanup")
        assert (again.returncode, again.stdout.strip()) == (
            0, "Rien à faire : toutes les ressources du lab sont déjà supprimées."
        )
    finally:
        server.stop()


def test_build_without_docker(cli, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    result = cli("build", "web")
    assert result.code == 1
    assert result.err.startswith("Erreur : Docker ne répond pas")
