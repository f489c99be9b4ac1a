"""Lab 8, partie 2 : classification d'images avec une tâche ECS.

À VOUS DE JOUER : complétez les méthodes marquées TODO. Les parties marquées
« Fourni » sont déjà écrites. Vérifiez votre progression à tout moment avec
``pytest`` (à la racine du lab) : chaque point de contrôle affiche ce qui est
attendu et l'étape du guide (LAB.md) à relire.

Documentation utile (boto3) :
- ECR : ``get_authorization_token`` ; Docker SDK : ``client.login``, ``image.tag``, ``client.images.push``
- ECS : ``register_task_definition``, ``run_task``, ``describe_tasks``
- CloudWatch Logs : ``get_log_events`` ; S3 : ``get_object``
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
        """Pousse l'image Docker locale ``local_image`` vers le dépôt ECR ``repository_uri``.

        Renvoie ``"<repository_uri>:<tag>"``. ``docker_client`` vaut par défaut
        ``docker.from_env()`` (importez ``docker`` dans la méthode).

        TODO (étape 10) :
        1. ``self.ecr.get_authorization_token()`` : le jeton ``authorizationToken`` est
           en base64 et vaut ``"AWS:<mot de passe>"`` une fois décodé ; le registre est
           ``proxyEndpoint`` ;
        2. ``docker_client.login(username=..., password=..., registry=...)`` ;
        3. taguez l'image locale ``repository_uri:tag`` (``docker_client.images.get(...).tag(...)``) ;
        4. ``docker_client.images.push(repository_uri, tag=tag, stream=True, decode=True)`` :
           parcourez le flux de progression et levez ``RuntimeError`` avec le message du
           registre si une ligne contient ``"error"`` ou ``"errorDetail"`` (un push qui
           échoue ne lève pas d'exception tout seul !).
        """
        raise NotImplementedError("À implémenter")

    def register_image_classifier_task_definition(
        self, ecr_uri: str, task_role_arn: str, execution_role_arn: str
    ) -> str:
        """Enregistre la task definition du classificateur et renvoie son ARN.

        TODO (étape 11) : ``self.ecs.register_task_definition`` avec :
        - famille ``image-classifier``, réseau ``awsvpc``, compatibilité ``FARGATE`` ;
        - ``cpu="1024"`` et ``memory="2048"`` (au niveau de la tâche) ;
        - ``taskRoleArn`` et ``executionRoleArn`` reçus en paramètres ;
        - un seul conteneur essentiel nommé ``image-classifier`` avec l'image ``ecr_uri`` ;
        - des logs ``awslogs`` vers le groupe ``/ecs/ecs-lab/image-classifier``, dans la
          région ``self.region``, avec le préfixe de flux ``ecs``.
        Renvoyez ``response["taskDefinition"]["taskDefinitionArn"]``.
        """
        raise NotImplementedError("À implémenter")

    def run_image_classification_task(
        self,
        cluster_name: str,
        task_definition_arn: str,
        subnet_ids: list[str],
        security_group_id: str,
        image_url: str,
    ) -> str:
        """Lance la tâche de classification sur Fargate et renvoie l'ARN de la tâche.

        TODO (étape 11) : ``self.ecs.run_task`` avec :
        - le cluster ``cluster_name`` et la task definition ``task_definition_arn`` ;
        - ``launchType="FARGATE"`` ;
        - ``awsvpcConfiguration`` : les sous-réseaux ``subnet_ids``, le groupe de sécurité
          ``[security_group_id]`` et ``assignPublicIp="ENABLED"`` (VPC par défaut : sans IP
          publique, la tâche ne peut pas télécharger son image depuis ECR) ;
        - un override du conteneur ``image-classifier`` dont la commande est
          ``["python", "classifier.py", image_url]``.
        Si ``response["tasks"]`` est vide, levez une exception qui contient
        ``response["failures"]``.
        """
        raise NotImplementedError("À implémenter")

    def monitor_task(
        self, cluster_name: str, task_arn: str, poll_interval: float = 30.0, timeout: float = 900.0
    ) -> dict:
        """Surveille la tâche jusqu'à son arrêt et renvoie la tâche finale (dict).

        TODO (étape 11) :
        - appelez ``self.ecs.describe_tasks`` toutes les ``poll_interval`` secondes ;
        - affichez chaque changement de statut (``lastStatus``) une seule fois, en français ;
        - si ECS renvoie des ``failures`` : levez ``TaskFailedError`` ;
        - quand le statut est ``STOPPED`` : renvoyez la tâche si le conteneur
          ``image-classifier`` a le code de sortie 0, sinon levez
          ``TaskFailedError(message, exit_code, stopped_reason)`` (le code peut être absent,
          par exemple si l'image n'a pas pu être téléchargée : ``stoppedReason`` dit pourquoi) ;
        - levez ``TimeoutError`` si la tâche n'est pas arrêtée après ``timeout`` secondes.
        Astuce : le waiter ``self.ecs.get_waiter("tasks_stopped")`` existe aussi.
        """
        raise NotImplementedError("À implémenter")

    def get_classification_result(self, task_arn: str, log_group: str = LOG_GROUP) -> dict:
        """Lit le résultat de la classification dans CloudWatch Logs et le renvoie (dict).

        TODO (étape 12) :
        - le flux de logs s'appelle ``ecs/image-classifier/<id de la tâche>`` (l'id est la
          fin de l'ARN, après le dernier ``/``) dans le groupe ``log_group`` ;
        - lisez TOUTES les pages de ``self.logs.get_log_events`` (``startFromHead=True``,
          ``nextToken``) : la lecture est finie quand le jeton renvoyé ne change plus ;
        - le classificateur écrit son document résultat sur une ligne JSON qui contient
          la clé ``predictions`` : gardez le dernier ;
        - affichez les meilleures prédictions (``label`` et ``confidence`` en %) ;
        - levez une exception claire si aucun résultat n'est trouvé.
        """
        raise NotImplementedError("À implémenter")

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
        """Bonus : lance la tâche en mode S3 et renvoie l'ARN de la tâche.

        TODO (bonus, étape 3) : comme ``run_image_classification_task``, avec la commande
        ``["python", "classifier.py", input_s3_uri, output_s3_uri]``.
        """
        raise NotImplementedError("À implémenter")

    def download_s3_result(self, output_s3_uri: str) -> dict:
        """Bonus : lit le document résultat JSON écrit par la tâche dans S3 et le renvoie (dict).

        TODO (bonus) : découpez ``output_s3_uri`` (``s3://bucket/cle``), lisez l'objet avec
        ``self.s3.get_object`` et décodez le JSON.
        """
        raise NotImplementedError("À implémenter")


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
