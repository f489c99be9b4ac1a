"""In-process moto for the lab's commands: fake credentials, fast waiters, a CLI runner.

Import the fixtures with ``from ecslab_support.moto_env import *``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import ecslab.cleanup
import ecslab.stacks
from ecslab.cli import main

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESOURCES = PROJECT_ROOT / "resources"
WEB_TASK_DEFINITION = RESOURCES / "web-service-task-definition.json"

__all__ = ["aws_env", "fast_waiters", "moto_session", "cli", "CliResult", "session_factory"]


def session_factory(profile: str | None, region: str) -> boto3.Session:
    """Stands in for ``ecslab.aws.make_session`` under ``mock_aws`` (no profile needed)."""
    return boto3.Session(region_name=region)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no AWS configuration of the machine (never a real account)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "DEFAULT_VPC_ID", "DEFAULT_SUBNET_IDS", "ECS_LAB_RESOURCES", "ECS_LAB_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("ECSLAB_DEBUG", raising=False)


@pytest.fixture
def fast_waiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto answers at once: a waiter that does not succeed at its first polls is a bug, not a delay."""
    fast = {"Delay": 0, "MaxAttempts": 3}
    monkeypatch.setattr(ecslab.stacks, "STACK_WAITER_CONFIG", fast)
    monkeypatch.setattr(ecslab.cleanup, "ECS_WAITER_CONFIG", fast)
    monkeypatch.setattr(ecslab.cleanup, "ELB_WAITER_CONFIG", fast)
    monkeypatch.setattr(ecslab.cleanup, "TARGET_GROUP_RETRY_DELAY", 0.0)


@pytest.fixture
def moto_session(aws_env: None, fast_waiters: None) -> Iterator[boto3.Session]:
    with mock_aws():
        yield boto3.Session(region_name=REGION)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(moto_session: boto3.Session, capsys: pytest.CaptureFixture[str]):
    """``cli("deploy")`` runs ``ecs-lab deploy`` in-process on moto and returns its exit code and output."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv), session_factory=session_factory)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return CliResult(code, captured.out, captured.err)

    return run


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
