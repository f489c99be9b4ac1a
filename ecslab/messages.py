"""Every sentence the ``ecs-lab`` command prints, in French (default) and English.

Keys are stable identifiers: code and tests refer to the key, never to the text.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "error_prefix": {"fr": "Erreur :", "en": "Error:"},
    # --- credentials and AWS -------------------------------------------------
    "profile_not_found": {
        "fr": "le profil AWS « {profile} » n'existe pas. Configurez-le avec "
        "« aws configure sso --profile {profile} » (ou choisissez-en un autre avec --profile).",
        "en": "the AWS profile '{profile}' does not exist. Configure it with "
        "'aws configure sso --profile {profile}' (or choose another one with --profile).",
    },
    "sso_expired": {
        "fr": "votre session AWS a expiré ou n'est pas ouverte. Reconnectez-vous avec "
        "« aws sso login --profile {profile} », puis relancez la commande.",
        "en": "your AWS session has expired or is not open. Log in again with "
        "'aws sso login --profile {profile}', then run the command again.",
    },
    "no_credentials": {
        "fr": "aucun identifiant AWS trouvé. Connectez-vous avec « aws sso login --profile {profile} ».",
        "en": "no AWS credentials found. Log in with 'aws sso login --profile {profile}'.",
    },
    "invalid_credentials": {
        "fr": "identifiants AWS refusés (clé inconnue ou invalide). Vérifiez le profil « {profile} » "
        "et reconnectez-vous avec « aws sso login --profile {profile} ».",
        "en": "AWS credentials rejected (unknown or invalid key). Check the profile '{profile}' "
        "and log in again with 'aws sso login --profile {profile}'.",
    },
    "endpoint_unreachable": {
        "fr": "impossible de joindre AWS ({endpoint}). Vérifiez votre connexion réseau et AWS_ENDPOINT_URL.",
        "en": "cannot reach AWS ({endpoint}). Check your network connection and AWS_ENDPOINT_URL.",
    },
    "access_denied": {
        "fr": "accès refusé pour {operation} : {message}",
        "en": "access denied for {operation}: {message}",
    },
    "aws_error": {
        "fr": "AWS a refusé {operation} ({code}) : {message}",
        "en": "AWS refused {operation} ({code}): {message}",
    },
    "waiter_failed": {
        "fr": "l'attente « {waiter} » a échoué : {reason}",
        "en": "waiting for '{waiter}' failed: {reason}",
    },
    "unexpected": {
        "fr": "erreur inattendue : {error}",
        "en": "unexpected error: {error}",
    },
    "interrupted": {"fr": "Interrompu.", "en": "Interrupted."},
    # --- default VPC ---------------------------------------------------------
    "no_default_vpc": {
        "fr": "aucun VPC par défaut dans la région {region}. Créez-en un avec « aws ec2 create-default-vpc ».",
        "en": "no default VPC in region {region}. Create one with 'aws ec2 create-default-vpc'.",
    },
    "not_enough_subnets": {
        "fr": "le VPC {vpc} n'a des sous-réseaux que dans {count} zone(s) de disponibilité ; "
        "il en faut au moins {minimum} pour l'ALB.",
        "en": "VPC {vpc} has subnets in only {count} availability zone(s); the ALB needs at least {minimum}.",
    },
    "default_vpc_found": {
        "fr": "VPC par défaut : {vpc} ; sous-réseaux ({count} zones) : {subnets}",
        "en": "Default VPC: {vpc}; subnets ({count} zones): {subnets}",
    },
    "default_vpc_hint": {
        "fr": "Pour exporter ces variables dans votre shell : eval \"$(ecs-lab default-vpc)\"",
        "en": "To export these variables in your shell: eval \"$(ecs-lab default-vpc)\"",
    },
    # --- stacks --------------------------------------------------------------
    "template_missing": {
        "fr": "fichier introuvable : {path}",
        "en": "file not found: {path}",
    },
    "stack_missing": {
        "fr": "la pile CloudFormation « {stack} » n'existe pas. Déployez-la d'abord avec « ecs-lab deploy ».",
        "en": "the CloudFormation stack '{stack}' does not exist. Deploy it first with 'ecs-lab deploy'.",
    },
    "stack_not_ready": {
        "fr": "la pile « {stack} » est dans l'état {status} : attendez la fin de l'opération "
        "ou redéployez avec « ecs-lab deploy ».",
        "en": "the stack '{stack}' is in state {status}: wait for the operation to finish "
        "or deploy again with 'ecs-lab deploy'.",
    },
    "stack_busy": {
        "fr": "la pile « {stack} » a une opération en cours ({status}) ; réessayez quand elle sera terminée.",
        "en": "the stack '{stack}' has an operation in progress ({status}); try again when it is over.",
    },
    "stack_failed": {
        "fr": "la pile « {stack} » a échoué ({status}). Causes : {reasons}",
        "en": "the stack '{stack}' failed ({status}). Causes: {reasons}",
    },
    "stack_recreate": {
        "fr": "La pile {stack} est dans l'état {status} (échec précédent) : suppression puis nouvelle création.",
        "en": "Stack {stack} is in state {status} (earlier failure): deleting it, then creating it again.",
    },
    "stack_creating": {"fr": "Création de la pile {stack}…", "en": "Creating stack {stack}…"},
    "stack_created": {"fr": "Pile {stack} créée.", "en": "Stack {stack} created."},
    "stack_updating": {"fr": "Mise à jour de la pile {stack}…", "en": "Updating stack {stack}…"},
    "stack_updated": {"fr": "Pile {stack} mise à jour.", "en": "Stack {stack} updated."},
    "stack_unchanged": {
        "fr": "Pile {stack} déjà à jour : aucune modification.",
        "en": "Stack {stack} already up to date: no changes.",
    },
    "stack_deleting": {"fr": "Suppression de la pile {stack}…", "en": "Deleting stack {stack}…"},
    "stack_deleted": {"fr": "Pile {stack} supprimée.", "en": "Stack {stack} deleted."},
    "network_incomplete": {
        "fr": "donnez le VPC et les sous-réseaux ensemble (--vpc-id et --subnet-ids, ou DEFAULT_VPC_ID et "
        "DEFAULT_SUBNET_IDS), ou aucun des deux pour utiliser le VPC par défaut.",
        "en": "give the VPC and the subnets together (--vpc-id and --subnet-ids, or DEFAULT_VPC_ID and "
        "DEFAULT_SUBNET_IDS), or neither to use the default VPC.",
    },
    "stack_delete_failed": {
        "fr": "la suppression de la pile « {stack} » a échoué ({status}). Causes : {reasons}. "
        "Souvent une dépendance encore en cours de libération : relancez « ecs-lab cleanup » dans quelques minutes.",
        "en": "deleting the stack '{stack}' failed ({status}). Causes: {reasons}. "
        "Often a dependency still being released: run 'ecs-lab cleanup' again in a few minutes.",
    },
    "deploy_network": {
        "fr": "Réseau : VPC {vpc}, sous-réseaux {subnets}",
        "en": "Network: VPC {vpc}, subnets {subnets}",
    },
    "deploy_done": {
        "fr": "Les deux piles sont déployées. Sorties :",
        "en": "Both stacks are deployed. Outputs:",
    },
    "deploy_nothing": {
        "fr": "Rien à faire : les deux piles sont déjà déployées et à jour. Sorties :",
        "en": "Nothing to do: both stacks are already deployed and up to date. Outputs:",
    },
    "output_missing": {
        "fr": "la sortie {key} manque dans les piles du lab : redéployez-les avec « ecs-lab deploy ».",
        "en": "the output {key} is missing from the lab's stacks: deploy them again with 'ecs-lab deploy'.",
    },
    "output_line": {"fr": "  {key} = {value}", "en": "  {key} = {value}"},
    # --- task definitions ----------------------------------------------------
    "taskdef_source_invalid": {
        "fr": "la task definition {path} n'est pas un JSON valide : {error}",
        "en": "the task definition {path} is not valid JSON: {error}",
    },
    "taskdef_placeholder_left": {
        "fr": "des marqueurs n'ont pas été remplacés dans la task definition : {placeholders}",
        "en": "placeholders were left in the task definition: {placeholders}",
    },
    "taskdef_same_file": {
        "fr": "refus d'écraser le fichier suivi {path} : choisissez un autre --output.",
        "en": "refusing to overwrite the tracked file {path}: choose another --output.",
    },
    "taskdef_written": {
        "fr": "Task definition remplie écrite dans {path} (image {image}). Le fichier {source} n'a pas été modifié.",
        "en": "Filled task definition written to {path} (image {image}). {source} was not modified.",
    },
    "taskdef_register_hint": {
        "fr": "Pour l'enregistrer : aws ecs register-task-definition --cli-input-json file://{path} "
        "--profile {profile} (ou relancez avec --register).",
        "en": "To register it: aws ecs register-task-definition --cli-input-json file://{path} "
        "--profile {profile} (or run again with --register).",
    },
    "taskdef_registered": {
        "fr": "Task definition enregistrée : {arn}",
        "en": "Task definition registered: {arn}",
    },
    # --- images and push -----------------------------------------------------
    "docker_unavailable": {
        "fr": "Docker ne répond pas ({error}). Démarrez Docker puis relancez la commande.",
        "en": "Docker does not answer ({error}). Start Docker, then run the command again.",
    },
    "images_unavailable": {
        "fr": "la construction des images n'est pas disponible dans cette installation ({error}).",
        "en": "image building is not available in this installation ({error}).",
    },
    "build_started": {"fr": "Construction de l'image {what}…", "en": "Building the {what} image…"},
    "build_done": {"fr": "Image construite : {image}", "en": "Image built: {image}"},
    "build_failed": {
        "fr": "la construction de l'image {what} a échoué : {error}",
        "en": "building the {what} image failed: {error}",
    },
    "push_existing_image": {
        "fr": "Image locale {image} trouvée (reconstruisez-la avec « ecs-lab build » ou --build).",
        "en": "Local image {image} found (rebuild it with 'ecs-lab build' or --build).",
    },
    "push_login": {"fr": "Connexion à ECR ({registry})…", "en": "Logging in to ECR ({registry})…"},
    "push_pushing": {"fr": "Envoi de {image}…", "en": "Pushing {image}…"},
    "push_done": {"fr": "Image poussée : {image}", "en": "Image pushed: {image}"},
    "push_image_missing": {
        "fr": "l'image locale {image} n'existe pas.",
        "en": "the local image {image} does not exist.",
    },
    "push_failed": {
        "fr": "le push de {image} a échoué : {error}",
        "en": "pushing {image} failed: {error}",
    },
    "push_student": {
        "fr": "Push de l'image du classificateur avec votre push_image_to_ecr ({path})…",
        "en": "Pushing the classifier image with your push_image_to_ecr ({path})…",
    },
    # --- submissions ---------------------------------------------------------
    "submission_missing_dir": {
        "fr": "le dossier de rendu {path} n'existe pas.",
        "en": "the submission directory {path} does not exist.",
    },
    "submission_module_missing": {
        "fr": "le fichier {path} est introuvable (module {module}).",
        "en": "the file {path} was not found (module {module}).",
    },
    "submission_syntax_error": {
        "fr": "erreur de syntaxe dans {path}, ligne {line} : {error}",
        "en": "syntax error in {path}, line {line}: {error}",
    },
    "submission_import_error": {
        "fr": "le module {module} ({path}) ne peut pas être importé : {error}",
        "en": "the module {module} ({path}) cannot be imported: {error}",
    },
    "submission_exec_error": {
        "fr": "le module {module} ({path}) a échoué au chargement : {error}",
        "en": "the module {module} ({path}) failed while loading: {error}",
    },
    "submission_attribute_missing": {
        "fr": "{attribute} est introuvable dans {module} ({path}).",
        "en": "{attribute} was not found in {module} ({path}).",
    },
    "student_code_failed": {
        "fr": "votre {function} a levé une exception : {error}",
        "en": "your {function} raised an exception: {error}",
    },
    "student_bad_return": {
        "fr": "votre {function} a renvoyé {value!r} au lieu d'un code de sortie entier ; considéré comme un échec.",
        "en": "your {function} returned {value!r} instead of an integer exit code; counted as a failure.",
    },
    # --- clean-ups -----------------------------------------------------------
    "service_scaling": {
        "fr": "Passage du service {service} à 0 tâche…",
        "en": "Scaling service {service} down to 0 tasks…",
    },
    "service_waiting": {
        "fr": "Attente de l'arrêt des tâches du service {service}…",
        "en": "Waiting for the tasks of service {service} to stop…",
    },
    "service_deleted": {
        "fr": "Service {service} supprimé du cluster {cluster}.",
        "en": "Service {service} deleted from cluster {cluster}.",
    },
    "alb_listeners_deleted": {"fr": "{count} listener(s) supprimé(s).", "en": "{count} listener(s) deleted."},
    "alb_deleting": {
        "fr": "Suppression du load balancer {name} (attente de sa disparition)…",
        "en": "Deleting load balancer {name} (waiting until it is gone)…",
    },
    "alb_deleted": {"fr": "Load balancer {name} supprimé.", "en": "Load balancer {name} deleted."},
    "tg_deleted": {"fr": "Target group {name} supprimé.", "en": "Target group {name} deleted."},
    "step8_done": {
        "fr": "Service web et ALB supprimés. Conservés : cluster, S3, ECR, groupes de sécurité et rôles IAM. "
        "Vous pouvez passer à la Partie 2.",
        "en": "Web service and ALB deleted. Kept: cluster, S3, ECR, security groups and IAM roles. "
        "You can go on to Part 2.",
    },
    "step8_nothing": {
        "fr": "Rien à faire : le service web, l'ALB et le target group sont déjà supprimés.",
        "en": "Nothing to do: the web service, the ALB and the target group are already deleted.",
    },
    "tasks_stopping": {
        "fr": "Arrêt de {count} tâche(s) en cours dans {cluster}…",
        "en": "Stopping {count} running task(s) in {cluster}…",
    },
    "tasks_stopped": {"fr": "{count} tâche(s) arrêtée(s).", "en": "{count} task(s) stopped."},
    "cluster_deleted": {"fr": "Cluster {cluster} supprimé.", "en": "Cluster {cluster} deleted."},
    "taskdefs_deregistered": {
        "fr": "{count} révision(s) de la task definition {family} désenregistrée(s).",
        "en": "{count} revision(s) of task definition {family} deregistered.",
    },
    "bucket_emptied": {
        "fr": "Bucket {bucket} vidé ({count} version(s) et marqueur(s) de suppression).",
        "en": "Bucket {bucket} emptied ({count} version(s) and delete marker(s)).",
    },
    "bucket_deleted": {"fr": "Bucket {bucket} supprimé.", "en": "Bucket {bucket} deleted."},
    "ecr_images_deleted": {
        "fr": "{count} image(s) supprimée(s) du dépôt ECR {repository}.",
        "en": "{count} image(s) deleted from ECR repository {repository}.",
    },
    "repository_deleted": {"fr": "Dépôt ECR {repository} supprimé.", "en": "ECR repository {repository} deleted."},
    "cleanup_done": {
        "fr": "Nettoyage terminé : plus aucune ressource du lab.",
        "en": "Clean-up finished: no lab resource left.",
    },
    "cleanup_nothing": {
        "fr": "Rien à faire : toutes les ressources du lab sont déjà supprimées.",
        "en": "Nothing to do: all the lab's resources are already deleted.",
    },
    # --- the sandbox (ecs-lab sandbox) -------------------------------------------
    "sandbox_starting": {
        "fr": "Démarrage du bac à sable (AWS émulé par moto, registre ECR, ECS local qui lance les tâches dans Docker)…",
        "en": "Starting the sandbox (AWS emulated by moto, ECR registry, local ECS running the tasks in Docker)…",
    },
    "sandbox_ready": {
        "fr": "Bac à sable prêt en {seconds} s{restored}.\nDans chaque terminal où vous suivez le lab :\n"
        "  eval \"$(ecs-lab sandbox env)\"\nLes commandes de LAB.md (aws, docker, ecs-lab, pytest --tier aws) "
        "s'exécutent alors telles quelles contre le bac à sable.\necs-lab sandbox status : ce qui tourne ; "
        "ecs-lab sandbox down : tout arrêter et effacer (--keep : arrêter en gardant l'état).",
        "en": "Sandbox ready in {seconds} s{restored}.\nIn every terminal where you follow the lab:\n"
        "  eval \"$(ecs-lab sandbox env)\"\nThe commands of LAB.md (aws, docker, ecs-lab, pytest --tier aws) "
        "then run unchanged against the sandbox.\necs-lab sandbox status: what runs; "
        "ecs-lab sandbox down: stop and erase everything (--keep: stop and keep the state).",
    },
    "sandbox_restored": {
        "fr": " (état de la session précédente repris ; services relancés : {services})",
        "en": " (the previous session's state is back; services restarted: {services})",
    },
    "sandbox_already_running": {
        "fr": "le bac à sable tourne déjà (pid {pid}, AWS sur {endpoint}) : rien à démarrer. "
        "« ecs-lab sandbox status » pour le détail, « ecs-lab sandbox down » pour l'arrêter.",
        "en": "the sandbox is already running (pid {pid}, AWS on {endpoint}): nothing to start. "
        "'ecs-lab sandbox status' for the details, 'ecs-lab sandbox down' to stop it.",
    },
    "sandbox_port_taken": {
        "fr": "le port {port} de 127.0.0.1 ({what}) est déjà utilisé par un autre programme. Arrêtez-le, ou "
        "choisissez d'autres ports : « ecs-lab sandbox up --port N » (le bac à sable prend N, N+1 et N+2).",
        "en": "port {port} of 127.0.0.1 ({what}) is already used by another program. Stop it, or choose "
        "other ports: 'ecs-lab sandbox up --port N' (the sandbox takes N, N+1 and N+2).",
    },
    "sandbox_port_kept": {
        "fr": "l'état gardé par « ecs-lab sandbox down --keep » utilise les ports {port} à {port}+2 (les URI ECR "
        "gardées les nomment) : relancez sans --port, ou effacez cet état avec « ecs-lab sandbox down ».",
        "en": "the state kept by 'ecs-lab sandbox down --keep' uses ports {port} to {port}+2 (the kept ECR URIs "
        "name them): start again without --port, or erase that state with 'ecs-lab sandbox down'.",
    },
    "sandbox_no_docker": {
        "fr": "Docker ne répond pas ({error}) : le bac à sable lance les tâches ECS dans Docker. Démarrez Docker "
        "(sur Debian ou Ubuntu : « sudo bash scripts/setup-docker.sh »).",
        "en": "Docker does not answer ({error}): the sandbox runs the ECS tasks in Docker. Start Docker "
        "(on Debian or Ubuntu: 'sudo bash scripts/setup-docker.sh').",
    },
    "sandbox_no_registry": {
        "fr": "le registre Docker (programme « docker-registry ») n'est pas installé : il tient le rôle d'ECR. "
        "Installez-le : « sudo apt-get install docker-registry » (ou « sudo bash scripts/setup-docker.sh »).",
        "en": "Docker's registry (the 'docker-registry' program) is not installed: it stands in for ECR. "
        "Install it: 'sudo apt-get install docker-registry' (or 'sudo bash scripts/setup-docker.sh').",
    },
    "sandbox_start_failed": {
        "fr": "le bac à sable n'a pas démarré : {reason}. Tout ce qu'il avait lancé est arrêté. Journal : {log}",
        "en": "the sandbox did not start: {reason}. Everything it had started is stopped. Log: {log}",
    },
    "sandbox_not_running": {
        "fr": "le bac à sable ne tourne pas. Démarrez-le avec « ecs-lab sandbox up ».",
        "en": "the sandbox is not running. Start it with 'ecs-lab sandbox up'.",
    },
    "sandbox_nothing_to_stop": {
        "fr": "Rien à faire : le bac à sable ne tourne pas{kept}.",
        "en": "Nothing to do: the sandbox is not running{kept}.",
    },
    "sandbox_kept_state": {
        "fr": " (un état conservé attend le prochain « ecs-lab sandbox up »)",
        "en": " (a kept state waits for the next 'ecs-lab sandbox up')",
    },
    "sandbox_stopping": {"fr": "Arrêt du bac à sable (pid {pid})…", "en": "Stopping the sandbox (pid {pid})…"},
    "sandbox_stopped": {
        "fr": "Bac à sable arrêté : tâches, conteneurs, réseau, registre et données supprimés.",
        "en": "Sandbox stopped: tasks, containers, network, registry and data removed.",
    },
    "sandbox_stopped_kept": {
        "fr": "Bac à sable arrêté ; son état (ressources AWS, images ECR, historique CloudTrail) est conservé pour "
        "le prochain « ecs-lab sandbox up ». « ecs-lab sandbox down » (sans --keep) efface tout.",
        "en": "Sandbox stopped; its state (AWS resources, ECR images, CloudTrail history) is kept for the next "
        "'ecs-lab sandbox up'. 'ecs-lab sandbox down' (without --keep) erases everything.",
    },
    "sandbox_leftovers": {
        "fr": "Le bac à sable s'était arrêté sans nettoyer (pid {pid} disparu) : ce qu'il avait laissé est supprimé.",
        "en": "The sandbox had stopped without cleaning up (pid {pid} gone): what it left is removed.",
    },
    "sandbox_interrupted": {
        "fr": "Interrompu : le bac à sable est arrêté et tout ce qu'il avait lancé est supprimé.",
        "en": "Interrupted: the sandbox is stopped and everything it had started is removed.",
    },
    # --- argparse --------------------------------------------------------------
    "usage_error": {"fr": "{message}", "en": "{message}"},
}


def render(key: str, lang: str = "fr", /, **params: Any) -> str:
    """The message ``key`` in ``lang`` (French when unknown), formatted with ``params``."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    template = entry.get(lang) or entry["fr"]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
