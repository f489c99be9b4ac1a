"""Lab 8, partie 2 : classification d'images avec une tâche ECS (solution de référence).

Ce module déploie le classificateur d'images comme tâche ECS Fargate :
pousser l'image vers ECR, enregistrer la task definition, lancer la tâche,
la surveiller jusqu'à son arrêt, puis lire le résultat dans CloudWatch Logs
(ou dans S3 pour le bonus).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

TIGER_URL = "https://huggingface.co/datasets/Xenova/transformers.js-docs/resolve/main/tiger.jpg"
INFRASTRUCTURE_STACK = "ecs-lab-infrastructure"
IAM_STACK = "ecs-lab-iam-roles"
CLUSTER_NAME = "ecs-lab-cluster"
TASK_FAMILY = "image-classifier"
CONTAINER_NAME = "image-classifier"
LOG_GROUP = "/ecs/ecs-lab/image-classifier"
LOG_STREAM_PREFIX = "ecs"


class TaskFailedError(Exception):
    """La tâche ECS s'est arrêtée sans succès (code de sortie non nul, absent, ou échec ECS)."""

    def __init__(self, message: str, exit_code: int | None = None, stopped_reason: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stopped_reason = stopped_reason


class ImageClassifierOperations:
    """Opérations ECS, ECR, CloudWatch Logs et S3 du classificateur d'images."""

    def __init__(self, region: str = "eu-west-1", session: boto3.Session | None = None) -> None:
        # Fourni : les clients AWS, tous créés depuis la même session.
        self.region = region
        self.session = session or boto3.Session(region_name=region)
        self.ecs = self.session.client("ecs", region_name=region)
        self.ecr = self.session.client("ecr", region_name=region)
        self.cloudformation = self.session.client("cloudformation", region_name=region)
        self.logs = self.session.client("logs", region_name=region)
        self.s3 = self.session.client("s3", region_name=region)

    def get_stack_outputs(self) -> dict[str, str]:
        """Fourni : fusionne les sorties des piles d'infrastructure et IAM."""
        outputs: dict[str, str] = {}
        for stack_name in (INFRASTRUCTURE_STACK, IAM_STACK):
            stack = self.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
            for output in stack.get("Outputs", []):
                outputs[output["OutputKey"]] = output["OutputValue"]
        return outputs

    def push_image_to_ecr(
        self,
        local_image: str,
        repository_uri: str,
        tag: str = "latest",
        docker_client: Any = None,
    ) -> str:
        """Pousse l'image locale vers ECR et renvoie « repository_uri:tag »."""
        if docker_client is None:
            import docker  # imported here: only this step needs a Docker engine

            docker_client = docker.from_env()
        authorization = self.ecr.get_authorization_token()["authorizationData"][0]
        username, password = base64.b64decode(authorization["authorizationToken"]).decode().split(":", 1)
        registry = authorization["proxyEndpoint"]
        docker_client.login(username=username, password=password, registry=registry)

        docker_client.images.get(local_image).tag(repository_uri, tag=tag)
        stream = docker_client.images.push(
            repository_uri,
            tag=tag,
            stream=True,
            decode=True,
            auth_config={"username": username, "password": password},
        )
        for progress in stream:
            # The push reports registry errors in its stream, not as an exception.
            if "error" in progress or "errorDetail" in progress:
                message = progress.get("error") or progress["errorDetail"].get("message", "")
                raise RuntimeError(f"Échec du push vers {repository_uri}:{tag} : {message}")
            if progress.get("status") and "id" not in progress:
                print(progress["status"])
        return f"{repository_uri}:{tag}"

    def register_image_classifier_task_definition(
        self, ecr_uri: str, task_role_arn: str, execution_role_arn: str
    ) -> str:
        """Enregistre la task definition Fargate du classificateur ; renvoie son ARN."""
        response = self.ecs.register_task_definition(
            family=TASK_FAMILY,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="2048",
            taskRoleArn=task_role_arn,
            executionRoleArn=execution_role_arn,
            containerDefinitions=[
                {
                    "name": CONTAINER_NAME,
                    "image": ecr_uri,
                    "essential": True,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": LOG_GROUP,
                            "awslogs-region": self.region,
                            "awslogs-stream-prefix": LOG_STREAM_PREFIX,
                        },
                    },
                }
            ],
        )
        arn = response["taskDefinition"]["taskDefinitionArn"]
        print(f"Task definition enregistrée : {arn}")
        return arn

    def run_image_classification_task(
        self,
        cluster_name: str,
        task_definition_arn: str,
        subnet_ids: list[str],
        security_group_id: str,
        image_url: str,
    ) -> str:
        """Lance la tâche de classification sur Fargate ; renvoie l'ARN de la tâche."""
        return self._run_classifier(
            cluster_name, task_definition_arn, subnet_ids, security_group_id, [image_url]
        )

    def monitor_task(
        self, cluster_name: str, task_arn: str, poll_interval: float = 30.0, timeout: float = 900.0
    ) -> dict:
        """Suit la tâche jusqu'à STOPPED ; renvoie la tâche si le conteneur a terminé avec le code 0."""
        deadline = time.monotonic() + timeout
        last_status = None
        while True:
            response = self.ecs.describe_tasks(cluster=cluster_name, tasks=[task_arn])
            if response.get("failures"):
                reason = "; ".join(
                    f"{f.get('reason', '')} {f.get('detail', '')}".strip() for f in response["failures"]
                )
                raise TaskFailedError(f"ECS signale un échec pour la tâche : {reason}", None, reason)
            task = response["tasks"][0]
            status = task.get("lastStatus")
            if status != last_status:
                print(f"Statut de la tâche : {status}")
                last_status = status
            if status == "STOPPED":
                return self._check_stopped_task(task)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"La tâche n'est pas arrêtée après {timeout:.0f} s (dernier statut : {status})."
                )
            time.sleep(min(poll_interval, remaining))

    def get_classification_result(self, task_arn: str, log_group: str = LOG_GROUP) -> dict:
        """Lit le document résultat du classificateur dans le flux de logs de la tâche."""
        task_id = task_arn.rsplit("/", 1)[-1]
        stream_name = f"{LOG_STREAM_PREFIX}/{CONTAINER_NAME}/{task_id}"
        result = None
        token = None
        while True:
            params = {"logGroupName": log_group, "logStreamName": stream_name, "startFromHead": True}
            if token:
                params["nextToken"] = token
            page = self.logs.get_log_events(**params)
            for event in page["events"]:
                document = _parse_result_document(event["message"])
                if document is not None:
                    result = document  # keep the last one: the final result document
            next_token = page.get("nextForwardToken")
            # CloudWatch returns the same token again once the end of the stream is reached.
            if not page["events"] or next_token == token:
                break
            token = next_token
        if result is None:
            raise ValueError(f"Aucun document résultat dans le flux {stream_name} de {log_group}.")
        _print_predictions(result)
        return result

    # --- Bonus : S3 -------------------------------------------------------

    def run_s3_classification_task(
        self,
        cluster_name: str,
        task_definition_arn: str,
        subnet_ids: list[str],
        security_group_id: str,
        input_s3_uri: str,
        output_s3_uri: str,
    ) -> str:
        """Bonus : lance la tâche en mode S3 (image lue dans S3, résultat écrit dans S3)."""
        return self._run_classifier(
            cluster_name, task_definition_arn, subnet_ids, security_group_id, [input_s3_uri, output_s3_uri]
        )

    def download_s3_result(self, output_s3_uri: str) -> dict:
        """Bonus : lit et décode le document résultat JSON écrit dans S3."""
        if not output_s3_uri.startswith("s3://"):
            raise ValueError(f"URI S3 invalide : {output_s3_uri!r}")
        bucket, _, key = output_s3_uri[len("s3://"):].partition("/")
        if not bucket or not key:
            raise ValueError(f"URI S3 invalide : {output_s3_uri!r}")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        result = json.loads(body)
        _print_predictions(result)
        return result

    # --- Internal helpers ---------------------------------------------------

    def _run_classifier(
        self,
        cluster_name: str,
        task_definition_arn: str,
        subnet_ids: list[str],
        security_group_id: str,
        arguments: list[str],
    ) -> str:
        response = self.ecs.run_task(
            cluster=cluster_name,
            taskDefinition=task_definition_arn,
            launchType="FARGATE",
            count=1,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(subnet_ids),
                    "securityGroups": [security_group_id],
                    "assignPublicIp": "ENABLED",
                }
            },
            overrides={
                "containerOverrides": [
                    {"name": CONTAINER_NAME, "command": ["python", "classifier.py", *arguments]}
                ]
            },
        )
        if not response.get("tasks"):
            raise RuntimeError(f"Aucune tâche n'a démarré : {response.get('failures')}")
        task_arn = response["tasks"][0]["taskArn"]
        print(f"Tâche lancée : {task_arn}")
        return task_arn

    @staticmethod
    def _check_stopped_task(task: dict) -> dict:
        container = next(
            (c for c in task.get("containers", []) if c.get("name") == CONTAINER_NAME), {}
        )
        exit_code = container.get("exitCode")
        if exit_code == 0:
            print("La tâche s'est terminée avec succès (code de sortie 0).")
            return task
        reason = task.get("stoppedReason") or container.get("reason") or "raison inconnue"
        raise TaskFailedError(
            f"La tâche s'est arrêtée avec le code de sortie {exit_code} : {reason}", exit_code, reason
        )


def _parse_result_document(message: str) -> dict | None:
    """Return the classifier's result document if this log line is one."""
    message = message.strip()
    if not message.startswith("{"):
        return None
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if isinstance(document, dict) and "predictions" in document:
        return document
    return None


def _print_predictions(result: dict) -> None:
    print("Résultat de la classification :")
    for rank, prediction in enumerate(result.get("predictions", [])[:5], start=1):
        print(f"  {rank}. {prediction['label']} : {prediction['confidence']:.2f} %")


def run_image_classification_lab(
    image_url: str = TIGER_URL, region: str = "eu-west-1", session: boto3.Session | None = None
) -> int:
    """Fourni : enchaîne les étapes de la partie 2 ; renvoie 0 en cas de succès, 1 sinon."""
    try:
        operations = ImageClassifierOperations(region=region, session=session)
        print("1/5 Lecture des sorties des piles CloudFormation...")
        outputs = operations.get_stack_outputs()
        print("2/5 Enregistrement de la task definition...")
        task_definition_arn = operations.register_image_classifier_task_definition(
            f"{outputs['ClassifierECRRepository']}:latest",
            outputs["ImageClassifierTaskRoleArn"],
            outputs["ECSTaskExecutionRoleArn"],
        )
        print("3/5 Lancement de la tâche de classification...")
        task_arn = operations.run_image_classification_task(
            CLUSTER_NAME,
            task_definition_arn,
            outputs["SubnetIds"].split(","),
            outputs["ECSSecurityGroup"],
            image_url,
        )
        print("4/5 Surveillance de la tâche...")
        operations.monitor_task(CLUSTER_NAME, task_arn)
        print("5/5 Lecture du résultat dans CloudWatch Logs...")
        operations.get_classification_result(task_arn)
    except NotImplementedError as error:
        print(f"Erreur : une méthode n'est pas encore implémentée ({error}). Complétez les TODO.")
        return 1
    except TaskFailedError as error:
        print(f"Erreur : la tâche a échoué ({error}). Consultez les logs dans {LOG_GROUP}.")
        return 1
    except TimeoutError as error:
        print(f"Erreur : délai dépassé ({error}).")
        return 1
    except KeyError as error:
        print(f"Erreur : sortie de pile CloudFormation manquante : {error}. Déployez les piles (étape 2).")
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"Erreur AWS : {error}")
        return 1
    except Exception as error:  # noqa: BLE001 - the student sees a message, never a traceback
        print(f"Erreur inattendue : {type(error).__name__} : {error}")
        return 1
    print("Classification terminée avec succès.")
    return 0


if __name__ == "__main__":
    sys.exit(run_image_classification_lab(*sys.argv[1:2]))
