"""ECR login, tag and push with the Docker SDK (the lab's own code for ``push web``).

The student writes the same steps for the classifier in
``ImageClassifierOperations.push_image_to_ecr``; this module is the lab's
version, used for the web application's image.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import boto3

from ecslab.console import Console
from ecslab.errors import LabError


@dataclass(frozen=True)
class RegistryCredentials:
    username: str
    password: str
    registry: str  # proxy endpoint, e.g. https://<account>.dkr.ecr.<region>.amazonaws.com


def ecr_credentials(session: boto3.Session) -> RegistryCredentials:
    """Decode the ECR authorization token (``AWS:<password>``) of the session's account."""
    data = session.client("ecr").get_authorization_token()["authorizationData"][0]
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return RegistryCredentials(username=username, password=password, registry=data["proxyEndpoint"])


def docker_client() -> Any:
    """``docker.from_env()``, or a :class:`LabError` when no engine answers."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise LabError("docker_unavailable", error=str(exc)) from None
    return client


def push_image(
    session: boto3.Session,
    client: Any,
    local_image: str,
    repository_uri: str,
    console: Console,
    tag: str = "latest",
) -> str:
    """Log in to ECR, tag ``local_image`` as ``repository_uri:tag``, push it; returns the reference."""
    from docker.errors import APIError, ImageNotFound

    credentials = ecr_credentials(session)
    console.say("push_login", registry=credentials.registry)
    try:
        client.login(username=credentials.username, password=credentials.password, registry=credentials.registry)
        client.images.get(local_image).tag(repository_uri, tag=tag)
        console.say("push_pushing", image=f"{repository_uri}:{tag}")
        stream = client.images.push(
            repository_uri,
            tag=tag,
            stream=True,
            decode=True,
            auth_config={"username": credentials.username, "password": credentials.password},
        )
        for progress in stream:
            # Registry errors arrive in the progress stream, not as exceptions.
            if "error" in progress or "errorDetail" in progress:
                message = progress.get("error") or progress.get("errorDetail", {}).get("message", "")
                raise LabError("push_failed", image=f"{repository_uri}:{tag}", error=message)
    except ImageNotFound:
        raise LabError("push_image_missing", image=local_image) from None
    except APIError as exc:
        raise LabError("push_failed", image=f"{repository_uri}:{tag}", error=str(exc)) from None
    console.say("push_done", image=f"{repository_uri}:{tag}")
    return f"{repository_uri}:{tag}"
