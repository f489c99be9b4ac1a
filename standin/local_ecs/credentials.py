"""The task role's credentials, for the moto endpoint, as a container's environment.

On Fargate the SDK in the container fetches temporary credentials of the task role from
the agent (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``). botocore only accepts that
endpoint on link-local or loopback addresses, which a container cannot use for a server
of this host; so the local ECS asks moto's STS for the same temporary credentials
(AssumeRole of the task role, session named after the task) and passes them as
variables. A task definition without a task role gets no credentials at all, as on AWS.
"""

from __future__ import annotations

from typing import Any


def task_role_environment(sts_client: Any, role_arn: str | None, task_id: str) -> dict[str, str]:
    if not role_arn:
        return {}
    credentials = sts_client.assume_role(RoleArn=role_arn, RoleSessionName=task_id[:64],
                                         DurationSeconds=3600)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
