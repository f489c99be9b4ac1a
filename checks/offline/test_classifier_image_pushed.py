"""Checkpoint classifier_image_pushed (step 10): push the classifier's image to ECR.

The student's code gets a real ``docker.DockerClient`` on the scorer's Docker engine
(grader.evidence.docker_engine), which records the login, the tag and the push as it
received them, answers with a progress stream like dockerd's, and puts the image into moto's
ECR once the push is accepted. Judged on that record and on ECR, not on what the code says.
"""

import base64

import pytest

from ecslab.facts import CLASSIFIER_REPOSITORY
from grader.evidence.docker_engine import ecr_put_image
from grader.feedback import Text, expect
from grader.student import failure_text
from grader.worker.values import DOCKER

LOCAL_IMAGE = "image-classifier:latest"


@pytest.fixture
def docker(account):
    """The check's Docker engine: the local image exists; an accepted push lands in moto's ECR."""
    account.docker.local_images.add(LOCAL_IMAGE)
    account.docker.on_push = ecr_put_image(account.client("ecr"))
    return account.docker


def _push(ops, repository_uri, **kwargs):
    return ops.answer("push_image_to_ecr", LOCAL_IMAGE, repository_uri, docker_client=DOCKER, **kwargs)


def _token(account) -> tuple[str, str, str]:
    data = account.client("ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return user, password, data["proxyEndpoint"]


def _ok(outcome):
    if outcome.error is not None:
        text = failure_text(outcome, "push_image_to_ecr")
        expect(False, f"Le push doit réussir. {text.fr}", f"The push must succeed. {text.en}",
               expected="repository_uri:tag")
    return outcome.value


def test_logs_in_with_the_ecr_token(ops, account, lab, docker):
    _ok(_push(ops, lab.classifier_repository_uri))
    user, password, endpoint = _token(account)
    host = endpoint.removeprefix("https://")
    good = [login for login in docker.logins
            if login.username == user and login.password == password and
            (login.registry or "").removeprefix("https://").rstrip("/") == host]
    expect(good, "Connectez Docker à ECR avec le jeton décodé (utilisateur AWS, mot de passe) sur le "
                 "proxyEndpoint du jeton.",
           "Log Docker in to ECR with the decoded token (user AWS, password) at the token's proxyEndpoint.",
           expected={"username": user, "password": Text("<mot de passe du jeton>", "<the token's password>"), "registry": endpoint},
           seen=[{"username": l.username, "registry": l.registry,
                  "password": "<jeton>" if l.password == password else l.password} for l in docker.logins])


def test_tags_pushes_and_returns_the_image_uri(ops, account, lab, docker):
    value = _ok(_push(ops, lab.classifier_repository_uri))
    uri = lab.classifier_repository_uri
    expect((uri, "latest") in [(r, t) for _s, r, t in docker.tags],
           "Taguez l'image locale « repository_uri:latest » avant de la pousser.",
           "Tag the local image as \"repository_uri:latest\" before pushing it.",
           expected=f"{uri}:latest", seen=[f"{r}:{t}" for _s, r, t in docker.tags])
    expect((uri, "latest") in [(p.repository, p.tag) for p in docker.pushes], "Poussez « repository_uri:latest ».",
           "Push \"repository_uri:latest\".", expected=f"{uri}:latest",
           seen=[f"{p.repository}:{p.tag}" for p in docker.pushes])
    expect(value == f"{uri}:latest", "La méthode doit renvoyer « repository_uri:tag ».",
           "The method must return \"repository_uri:tag\".", expected=f"{uri}:latest", seen=value)
    images = account.client("ecr").describe_images(repositoryName=CLASSIFIER_REPOSITORY)["imageDetails"]
    expect(any("latest" in i.get("imageTags", []) for i in images), "L'image « latest » doit être dans ECR.",
           "The \"latest\" image must be in ECR.", expected="latest", seen=images)


def test_honours_the_tag_parameter(ops, lab, docker):
    value = _ok(_push(ops, lab.classifier_repository_uri, tag="v2"))
    uri = lab.classifier_repository_uri
    expect((uri, "v2") in [(p.repository, p.tag) for p in docker.pushes] and value == f"{uri}:v2",
           "Le paramètre tag doit être utilisé pour le tag, le push et la valeur renvoyée.",
           "The tag parameter must be used for the tag, the push and the returned value.",
           expected=f"{uri}:v2", seen={"pushes": [f"{p.repository}:{p.tag}" for p in docker.pushes],
                                       "returned": value})


@pytest.mark.weight(2)
def test_a_push_error_in_the_stream_is_raised(ops, lab, docker):
    docker.push_error = "denied: User is not authorized to perform ecr:InitiateLayerUpload"
    outcome = _push(ops, lab.classifier_repository_uri)
    error = outcome.error
    pushed = [p for p in docker.pushes if p.repository == lab.classifier_repository_uri]
    expect(pushed and error is not None and error.is_a("RuntimeError") and "denied" in error.message,
           "Un push refusé ne lève pas d'exception tout seul : lisez le flux de progression et levez "
           "RuntimeError avec le message du registre.",
           "A refused push raises nothing by itself: read the progress stream and raise RuntimeError "
           "with the registry's message.",
           expected=f"RuntimeError({docker.push_error!r})",
           seen=Text(f"{error.summary('fr')}", f"{error.summary('en')}") if error else
           Text(f"aucune exception, valeur {outcome.value!r}", f"no exception, value {outcome.value!r}"))
