"""The aws tier's safety, in-process and without any server: the read-only recorder refuses a
mutating call before anything is sent, credentials problems become reasons (never failures),
and nothing secret (or, on request, the account ID) reaches a report."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, NoCredentialsError, SSOTokenLoadError

from grader.tiers.aws.readonly import ReadOnlyRecorder, ReadOnlyViolation, is_read_operation
from grader.tiers.aws.world import (
    ACCOUNT_MASK,
    REASON_CI,
    AwsWorld,
    TierUnavailable,
    credentials_problem,
    open_tier,
)
from grader.feedback import Text

ENDPOINT = "http://127.0.0.1:9"  # nothing listens there: a call that is sent would fail to connect


@pytest.mark.parametrize(("service", "operation", "read"), [
    ("ecs", "DescribeServices", True),
    ("ecs", "ListTasks", True),
    ("cloudtrail", "LookupEvents", True),
    ("ecr", "BatchGetImage", True),
    ("s3", "HeadObject", True),
    ("s3", "GetObject", True),
    ("logs", "FilterLogEvents", True),
    ("sts", "GetCallerIdentity", True),
    ("ecs", "UpdateService", False),
    ("ecs", "RunTask", False),
    ("ecs", "DeleteCluster", False),
    ("elbv2", "DeleteLoadBalancer", False),
    ("s3", "PutObject", False),
    ("iam", "CreateRole", False),
    ("logs", "StartQuery", False),
    ("ecr", "GetAuthorizationToken", False),  # a Get, but a Docker login token
    ("ecr", "GetDownloadUrlForLayer", False),
    ("sts", "GetSessionToken", False),
    ("ssm", "GetParameter", False),  # not a service the tier reads
    ("secretsmanager", "GetSecretValue", False),
])
def test_reads_only(service: str, operation: str, read: bool) -> None:
    assert is_read_operation(service, operation) is read


def _recorded_session() -> tuple[boto3.Session, ReadOnlyRecorder, list[str]]:
    """A session with the recorder; what reaches the wire is answered locally and listed in `sent`."""
    session = boto3.Session(aws_access_key_id="AKIAFAKEFAKEFAKEFAKE", aws_secret_access_key="fake-secret",
                            region_name="eu-west-1")
    recorder = ReadOnlyRecorder()
    recorder.attach(session)
    sent: list[str] = []

    class Raw:
        def stream(self, **_):
            yield b'{"clusters": [], "failures": []}'

    def before_send(request, **_):
        sent.append(request.url)
        return AWSResponse(request.url, 200, {}, Raw())

    session.events.register("before-send", before_send)
    return session, recorder, sent


def test_a_mutating_call_is_refused_before_it_is_sent() -> None:
    session, recorder, sent = _recorded_session()
    ecs = session.client("ecs", endpoint_url=ENDPOINT)
    assert ecs.describe_clusters(clusters=["ecs-lab-cluster"])["clusters"] == []
    assert len(sent) == 1
    with pytest.raises(ReadOnlyViolation, match="ecs:UpdateService"):
        ecs.update_service(cluster="ecs-lab-cluster", service="web-service", desiredCount=0)
    with pytest.raises(ReadOnlyViolation, match="s3:PutObject"):
        session.client("s3", endpoint_url=ENDPOINT).put_object(Bucket="b", Key="k", Body=b"x")
    with pytest.raises(ReadOnlyViolation, match="ecr:GetAuthorizationToken"):
        session.client("ecr", endpoint_url=ENDPOINT).get_authorization_token()
    assert len(sent) == 1  # nothing of the refused calls reached the wire
    assert [(c.service, c.operation, c.allowed) for c in recorder.calls] == [
        ("ecs", "DescribeClusters", True), ("ecs", "UpdateService", False), ("s3", "PutObject", False),
        ("ecr", "GetAuthorizationToken", False)]
    assert {"service": "ecs", "operation": "DescribeClusters", "count": 1, "allowed": True} in recorder.summary()


def test_a_refusal_is_not_swallowed_by_except_exception() -> None:
    session, recorder, _sent = _recorded_session()
    ecs = session.client("ecs", endpoint_url=ENDPOINT)

    def careless_check() -> str:
        try:
            ecs.delete_cluster(cluster="ecs-lab-cluster")
        except Exception:  # noqa: BLE001 - what a careless check would write
            return "swallowed"
        return "sent"

    with pytest.raises(ReadOnlyViolation):
        careless_check()
    assert recorder.refused[0].operation == "DeleteCluster"


# ---- credentials -----------------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS configuration, credentials or endpoint from the machine."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("CI", "ECS_LAB_MASK_ACCOUNT"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def _unavailable(**kwargs) -> Text:
    with pytest.raises(TierUnavailable) as raised:
        open_tier("aws-labs", "eu-west-1", **kwargs)
    return raised.value.reason


def test_unknown_profile(no_aws: Path) -> None:
    reason = _unavailable()
    assert "Profil AWS « aws-labs » introuvable" in reason.fr and "aws sso login --profile aws-labs" in reason.fr
    assert "AWS profile \"aws-labs\" not found" in reason.en


def test_profile_without_credentials(no_aws: Path) -> None:
    (no_aws / "config").write_text("[profile aws-labs]\nregion = eu-west-1\n")
    reason = _unavailable()
    assert reason.fr.startswith("Aucun identifiant AWS trouvé (profil aws-labs)")
    assert "aws sso login --profile aws-labs" in reason.fr


def test_sso_session_expired(no_aws: Path) -> None:
    (no_aws / "config").write_text(
        "[profile aws-labs]\nsso_start_url = https://ecs-lab-test.awsapps.com/start\nsso_region = eu-west-1\n"
        "sso_account_id = 123456789012\nsso_role_name = Student\nregion = eu-west-1\n")
    reason = _unavailable()  # no token in ~/.aws/sso/cache: `aws sso login` was never run, or expired
    assert reason.fr.startswith("Session AWS expirée (profil aws-labs)")
    assert "aws sso login --profile aws-labs" in reason.en


def test_never_against_aws_in_ci(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    assert _unavailable() == REASON_CI


@pytest.mark.parametrize(("error", "start"), [
    (ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "GetCallerIdentity"), "Session AWS expirée"),
    (ClientError({"Error": {"Code": "InvalidClientTokenId", "Message": "?"}}, "GetCallerIdentity"),
     "Identifiants AWS refusés (InvalidClientTokenId"),
    (NoCredentialsError(), "Aucun identifiant AWS trouvé"),
    (SSOTokenLoadError(error_msg="Token for x does not exist"), "Session AWS expirée"),
])
def test_credentials_problems_are_reasons(error: Exception, start: str) -> None:
    reason = credentials_problem(error, "aws-labs")
    assert reason is not None and reason.fr.startswith(start) and "aws sso login --profile aws-labs" in reason.fr


def test_other_errors_are_not_credentials_problems() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeServices")
    assert credentials_problem(error, "aws-labs") is None


# ---- what the reports may show ----------------------------------------------------------


def _tier(mask: bool) -> AwsWorld:
    return AwsWorld(session=boto3.Session(region_name="eu-west-1"), region="eu-west-1", profile="aws-labs",
                   account_id="210987654321", recorder=ReadOnlyRecorder(), mask_account=mask,
                   secrets=("AKIAFAKEFAKEFAKEFAKE", "s3cr3t/Value+", "session-token-xyz"))


def test_secrets_are_never_shown() -> None:
    tier = _tier(mask=False)
    text = tier.redact("key AKIAFAKEFAKEFAKEFAKE secret s3cr3t/Value+ token session-token-xyz other ASIA1234567890ABCDEF")
    assert text == "key ******** secret ******** token ******** other ********"
    assert "210987654321" in tier.redact("arn:aws:iam::210987654321:role/x")  # not masked unless asked


def test_the_account_id_can_be_masked() -> None:
    tier = _tier(mask=True)
    value = {"seen": ["arn:aws:iam::210987654321:role/ecs-lab-task-execution-role"],
             "message": Text("compte 210987654321", "account 210987654321"), "count": 2}
    masked = tier.redact_value(value)
    assert masked == {"seen": [f"arn:aws:iam::{ACCOUNT_MASK}:role/ecs-lab-task-execution-role"],
                      "message": Text(f"compte {ACCOUNT_MASK}", f"account {ACCOUNT_MASK}"), "count": 2}
    assert tier.report_data("part1")["account"] == ACCOUNT_MASK


def test_the_alb_stand_in_is_used_only_with_a_stand_in_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    tier = _tier(mask=False)
    monkeypatch.setenv("ECS_LAB_ALB_ENDPOINT", "127.0.0.1:9")
    connected = []

    class Connection:
        def __init__(self, host, port, timeout):
            connected.append((host, port))

        def request(self, *args, **kwargs):
            raise OSError("stop here")

        def close(self):
            pass

    monkeypatch.setattr("grader.tiers.aws.world.http.client.HTTPConnection", Connection)
    for endpoint in (None, "http://127.0.0.1:5000"):
        tier.endpoint_url = endpoint
        with pytest.raises(OSError):
            tier.http_get("ecs-lab-alb-1.eu-west-1.elb.amazonaws.com", "/")
    assert connected == [("ecs-lab-alb-1.eu-west-1.elb.amazonaws.com", 80), ("127.0.0.1", 9)]


def test_a_refused_read_is_a_reason_not_a_failure() -> None:
    from grader.tiers.aws.world import access_denied

    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "LookupEvents")
    reason = access_denied(error, "aws-labs")
    assert reason is not None and reason.fr.startswith("Lecture refusée (LookupEvents) avec le profil aws-labs")
    assert access_denied(ClientError({"Error": {"Code": "Throttling"}}, "LookupEvents"), "aws-labs") is None


def test_no_answer_from_aws_is_a_reason(no_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", ENDPOINT)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    reason = _unavailable()
    assert reason.fr.startswith(f"AWS ne répond pas ({ENDPOINT} : EndpointConnectionError)")
