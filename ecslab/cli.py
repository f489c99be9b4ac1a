"""``ecs-lab``: the lab's commands (the original shell scripts), in one console script.

    ecs-lab [--profile aws-labs] [--region eu-west-1] [--lang fr|en] COMMAND ...

Commands: default-vpc, deploy, update-task-definitions, build web|classifier, push web|classifier,
run-classifier, cleanup-step8, cleanup, sandbox up|down|status|env (ecslab.sandbox_commands, on
standin.sandbox); for instructors, registered through the entry points of the group
``ecs_lab.commands`` (grader/commands.py): grade, gradescope-bundle, classroom,
classroom-workflow. Every expected failure is printed as
one message (French by default) with a non-zero exit code, never a traceback
(set ``ECSLAB_DEBUG=1`` to get the traceback while developing).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as metadata
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import boto3

from ecslab import DEFAULT_PROFILE, DEFAULT_REGION, LAB_PROJECT
from ecslab.aws import SessionFactory, account_id, make_session, translate_error
from ecslab.cleanup import Cleaner, LabNames
from ecslab.console import Console
from ecslab.errors import LabError
from ecslab.network import LabNetwork, find_default_network
from ecslab.stacks import build_dir, deploy_both_stacks, lab_outputs, resources_dir
from ecslab.submission import get_attribute, load_module
from ecslab.taskdef import (
    WEB_TASK_DEFINITION_FILE,
    fill_web_task_definition,
    load_task_definition,
    write_task_definition,
)

OPERATIONS_MODULE = "image_classifier_operations"
COMMANDS_GROUP = "ecs_lab.commands"  # entry points: (subparsers, common parser, lang) -> None
DEFAULT_SUBMISSION = "student_template"


# ---------------------------------------------------------------------------
# Parsing


# argparse's own words (usage, help, errors: its gettext messages), in French. English is argparse's.
ARGPARSE_FR = {
    "usage: ": "usage : ",
    # A section's heading is followed by argparse's own ":": the space French puts before it.
    "positional arguments": "arguments positionnels ",
    "options": "options ",
    "optional arguments": "options ",
    "show this help message and exit": "afficher cette aide et quitter",
    "show program's version number and exit": "afficher la version et quitter",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments non reconnus : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "choix invalide : %(value)r (choisir parmi %(choices)s)",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "expected one argument": "un argument attendu",
    "expected at most one argument": "au plus un argument attendu",
    "expected at least one argument": "au moins un argument attendu",
    "expected %s argument": "%s argument attendu",
    "expected %s arguments": "%s arguments attendus",
    "ambiguous option: %(option)s could match %(matches)s": "option ambiguë : %(option)s peut désigner %(matches)s",
    "invalid %(type)s value: %(value)r": "valeur invalide (%(type)s) : %(value)r",
    "not allowed with argument %s": "interdit avec l'argument %s",
    "ignored explicit argument %r": "argument explicite ignoré : %r",
    "one of the arguments %s is required": "l'un des arguments %s est obligatoire",
    "unexpected option string: %s": "option inattendue : %s",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "commande inconnue %(parser_name)r (choix : %(choices)s)",
    "can't open '%(filename)s': %(error)s": "impossible d'ouvrir '%(filename)s' : %(error)s",
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
}


@contextlib.contextmanager
def argparse_language(lang: str) -> Iterator[None]:
    """argparse's own sentences in `lang` while a parser is built and used (they are looked up in
    argparse's module at each use: its gettext functions are swapped, then put back)."""
    if lang == "en":
        yield
        return
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]

    def gettext(message: str) -> str:
        return ARGPARSE_FR.get(message, saved[0](message))

    def ngettext(singular: str, plural: str, n: int) -> str:
        message = singular if n == 1 else plural
        return ARGPARSE_FR.get(message, saved[1](singular, plural, n))

    argparse._, argparse.ngettext = gettext, ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def requested_language(argv: Sequence[str]) -> str:
    """The --lang of the command line (the last one wins), else $ECS_LAB_LANG, else French: known
    before parsing, so that the help and the usage errors are in that language."""
    lang = os.environ.get("ECS_LAB_LANG", "fr")
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            lang = argv[index + 1]
        elif arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
    return lang if lang in ("fr", "en") else "fr"


class LabArgumentParser(argparse.ArgumentParser):
    """argparse, with the error line prefixed like every other error of the command."""

    lang = "fr"

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{'Error: ' if self.lang == 'en' else 'Erreur : '}{message}\n")


def build_parser(lang: str = "fr") -> argparse.ArgumentParser:
    """The command's parser, its help in `lang` (argparse's own words too: build and use it inside
    ``argparse_language(lang)``)."""

    def t(fr: str, en: str) -> str:
        return en if lang == "en" else fr

    parser_class = type("LabArgumentParser", (LabArgumentParser,), {"lang": lang})

    # Global options are accepted before and after the command: the
    # sub-parsers' copies default to SUPPRESS so they never hide the main ones.
    def add_globals(parser: argparse.ArgumentParser, suppress: bool) -> None:
        default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
        parser.add_argument("--profile", default=default(DEFAULT_PROFILE),
                            help=t(f"profil AWS CLI (défaut : {DEFAULT_PROFILE} ; \"\" = chaîne par défaut)",
                                   f"AWS CLI profile (default: {DEFAULT_PROFILE}; \"\" = the default chain)"))
        parser.add_argument("--region", default=default(DEFAULT_REGION),
                            help=t(f"région AWS (défaut : {DEFAULT_REGION})",
                                   f"AWS region (default: {DEFAULT_REGION})"))
        parser.add_argument("--lang", choices=("fr", "en"),
                            default=default(os.environ.get("ECS_LAB_LANG", "fr")),
                            help=t("langue des messages et de l'aide (défaut : fr, ou $ECS_LAB_LANG)",
                                   "language of the messages and of this help (default: fr, or $ECS_LAB_LANG)"))
        parser.add_argument("--project-name", default=default(LAB_PROJECT),
                            help=t(f"paramètre ProjectName des piles (défaut : {LAB_PROJECT})",
                                   f"the stacks' ProjectName parameter (default: {LAB_PROJECT})"))

    parser = parser_class(
        prog="ecs-lab",
        description=t("Commandes du Lab 8 (Amazon ECS) : déploiement, images, task definitions, nettoyage.",
                      "The Lab 8 (Amazon ECS) commands: deployment, images, task definitions, cleanup."),
    )
    add_globals(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    add_globals(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar=t("COMMANDE", "COMMAND"), required=True,
                                parser_class=parser_class)

    p = sub.add_parser("default-vpc", parents=[common],
                       help=t("VPC par défaut et ses sous-réseaux (eval \"$(ecs-lab default-vpc)\")",
                              "the default VPC and its subnets (eval \"$(ecs-lab default-vpc)\")"))
    p.set_defaults(handler=cmd_default_vpc)

    p = sub.add_parser("deploy", parents=[common],
                       help=t("déployer (créer ou mettre à jour) les deux piles",
                              "deploy (create or update) both stacks"))
    p.add_argument("--vpc-id", default=os.environ.get("DEFAULT_VPC_ID"),
                   help=t("VPC (défaut : $DEFAULT_VPC_ID, sinon le VPC par défaut)",
                          "VPC (default: $DEFAULT_VPC_ID, else the default VPC)"))
    p.add_argument("--subnet-ids", default=os.environ.get("DEFAULT_SUBNET_IDS"),
                   help=t("sous-réseaux séparés par des virgules "
                          "(défaut : $DEFAULT_SUBNET_IDS, sinon ceux du VPC par défaut)",
                          "comma-separated subnets (default: $DEFAULT_SUBNET_IDS, else those of the default VPC)"))
    p.set_defaults(handler=cmd_deploy)

    p = sub.add_parser("update-task-definitions", parents=[common],
                       help=t("écrire une copie remplie de la task definition web (ARN, compte, image)",
                              "write a filled-in copy of the web task definition (ARNs, account, image)"))
    p.add_argument("--source", type=Path, default=None,
                   help=t(f"task definition à remplir (défaut : resources/{WEB_TASK_DEFINITION_FILE})",
                          f"task definition to fill in (default: resources/{WEB_TASK_DEFINITION_FILE})"))
    p.add_argument("--output", type=Path, default=None,
                   help=t(f"copie remplie (défaut : build/{WEB_TASK_DEFINITION_FILE})",
                          f"filled-in copy (default: build/{WEB_TASK_DEFINITION_FILE})"))
    p.add_argument("--register", action="store_true",
                   help=t("enregistrer aussi la task definition dans ECS", "also register the task definition in ECS"))
    p.set_defaults(handler=cmd_update_task_definitions)

    images_options = argparse.ArgumentParser(add_help=False)
    images_options.add_argument("target", choices=("web", "classifier"),
                                help=t("web ou classifier", "web or classifier"))
    images_options.add_argument("--submission", type=Path, default=Path(DEFAULT_SUBMISSION),
                                help=t(f"dossier de votre code (défaut : {DEFAULT_SUBMISSION})",
                                       f"folder of your code (default: {DEFAULT_SUBMISSION})"))
    images_options.add_argument("--base-image", default=os.environ.get("ECS_LAB_BASE_IMAGE"),
                                help=t("image de base Python (argument BASE_IMAGE ; "
                                       "défaut : $ECS_LAB_BASE_IMAGE, sinon celle du Dockerfile)",
                                       "Python base image (BASE_IMAGE argument; "
                                       "default: $ECS_LAB_BASE_IMAGE, else the Dockerfile's)"))
    images_options.add_argument("--model-dir", type=Path, default=os.environ.get("ECS_LAB_MODEL_DIR"),
                                help=t("modèle local pour l'image du classificateur "
                                       "(défaut : $ECS_LAB_MODEL_DIR, sinon téléchargé à la construction)",
                                       "local model for the classifier's image "
                                       "(default: $ECS_LAB_MODEL_DIR, else downloaded during the build)"))

    p = sub.add_parser("build", parents=[common, images_options],
                       help=t("construire l'image locale web-app:latest ou image-classifier:latest",
                              "build the local image web-app:latest or image-classifier:latest"))
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("push", parents=[common, images_options],
                       help=t("pousser l'image locale vers ECR (construite d'abord si elle n'existe pas)",
                              "push the local image to ECR (built first if it does not exist)"))
    p.add_argument("--tag", default="latest",
                   help=t("tag dans ECR (push web ; défaut : latest)", "tag in ECR (push web; default: latest)"))
    p.add_argument("--build", action="store_true",
                   help=t("reconstruire l'image même si elle existe déjà", "rebuild the image even if it exists"))
    p.set_defaults(handler=cmd_push)

    p = sub.add_parser("run-classifier", parents=[common],
                       help=t("lancer votre run_image_classification_lab (Partie 2)",
                              "run your run_image_classification_lab (Part 2)"))
    p.add_argument("--submission", type=Path, default=Path(DEFAULT_SUBMISSION),
                   help=t(f"dossier de votre code (défaut : {DEFAULT_SUBMISSION})",
                          f"folder of your code (default: {DEFAULT_SUBMISSION})"))
    p.add_argument("--image-url", default=None,
                   help=t("URL de l'image à classifier (défaut : le tigre du lab)",
                          "URL of the image to classify (default: the lab's tiger)"))
    p.set_defaults(handler=cmd_run_classifier)

    p = sub.add_parser("cleanup-step8", parents=[common],
                       help=t("étape 8 : supprimer le service web, l'ALB, ses listeners et le target group",
                              "step 8: delete the web service, the ALB, its listeners and the target group"))
    p.set_defaults(handler=cmd_cleanup_step8)

    p = sub.add_parser("cleanup", parents=[common],
                       help=t("supprimer toutes les ressources du lab", "delete all the lab's resources"))
    p.set_defaults(handler=cmd_cleanup)

    p = sub.add_parser("sandbox", parents=[common],
                       help=t("le bac à sable : tout le lab sur cette machine, sans compte AWS (up, down, status, env)",
                              "the sandbox: the whole lab on this machine, without an AWS account "
                              "(up, down, status, env)"))
    actions = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True, parser_class=parser_class)
    from ecslab import sandbox_commands as sandbox

    q = actions.add_parser("up", parents=[common], help=t("démarrer le bac à sable", "start the sandbox"))
    q.add_argument("--port", type=int, default=None,
                   help=t("premier des trois ports de 127.0.0.1 (défaut : 4580, ou $ECS_LAB_SANDBOX_PORT)",
                          "first of the three ports of 127.0.0.1 (default: 4580, or $ECS_LAB_SANDBOX_PORT)"))
    q.set_defaults(handler=sandbox.cmd_up)
    q = actions.add_parser("down", parents=[common],
                           help=t("arrêter le bac à sable et tout effacer", "stop the sandbox and erase everything"))
    q.add_argument("--keep", action="store_true",
                   help=t("garder l'état pour le prochain « up »", "keep the state for the next 'up'"))
    q.set_defaults(handler=sandbox.cmd_down)
    q = actions.add_parser("status", parents=[common], help=t("ce qui tourne, et les adresses",
                                                               "what runs, and the addresses"))
    q.set_defaults(handler=sandbox.cmd_status)
    q = actions.add_parser("env", parents=[common],
                           help=t("les lignes export du bac à sable (eval \"$(ecs-lab sandbox env)\")",
                                  "the sandbox's export lines (eval \"$(ecs-lab sandbox env)\")"))
    q.add_argument("--unset", action="store_true",
                   help=t("les lignes unset pour revenir à AWS", "the unset lines to go back to AWS"))
    q.set_defaults(handler=sandbox.cmd_env)

    # Other packages' commands (the grader's: grade, gradescope-bundle...), registered by their own
    # distribution's entry points: the lab's command imports nothing above it.
    for entry in sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub, common, lang)
    return parser


# ---------------------------------------------------------------------------
# Context shared by the commands


@dataclass
class Context:
    args: argparse.Namespace
    console: Console
    session_factory: SessionFactory
    _session: boto3.Session | None = field(default=None, init=False)

    @property
    def profile(self) -> str | None:
        return self.args.profile

    @property
    def region(self) -> str:
        return self.args.region

    @property
    def project(self) -> str:
        return self.args.project_name

    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = self.session_factory(self.profile, self.region)
        return self._session

    def account(self) -> str:
        """Checks the credentials once, first, so that an expired login is reported clearly."""
        return account_id(self.session())


def _require(outputs: dict[str, str], key: str) -> str:
    if not outputs.get(key):
        raise LabError("output_missing", key=key)
    return outputs[key]


# ---------------------------------------------------------------------------
# Commands


def cmd_default_vpc(ctx: Context) -> int:
    network = find_default_network(ctx.session())
    note = Console(lang=ctx.console.lang, out=ctx.console.err, err=ctx.console.err)
    note.say("default_vpc_found", vpc=network.vpc_id, count=len(network.subnet_ids),
             subnets=", ".join(network.subnet_ids))
    note.say("default_vpc_hint")
    ctx.console.raw(network.exports())
    return 0


def cmd_deploy(ctx: Context) -> int:
    ctx.account()
    args = ctx.args
    if bool(args.vpc_id) != bool(args.subnet_ids):
        raise LabError("network_incomplete")
    if args.vpc_id:
        subnets = [s.strip() for s in args.subnet_ids.split(",") if s.strip()]
        network = LabNetwork(vpc_id=args.vpc_id, subnet_ids=subnets)
    else:
        network = find_default_network(ctx.session())
    ctx.console.say("deploy_network", vpc=network.vpc_id, subnets=",".join(network.subnet_ids))
    statuses, outputs = deploy_both_stacks(ctx.session(), ctx.project, network, ctx.console)
    unchanged = all(status == "unchanged" for status in statuses.values())
    ctx.console.say("deploy_nothing" if unchanged else "deploy_done")
    for key in sorted(outputs):
        ctx.console.say("output_line", key=key, value=outputs[key])
    return 0


def cmd_update_task_definitions(ctx: Context) -> int:
    account = ctx.account()
    outputs = lab_outputs(ctx.session(), ctx.project)
    source = ctx.args.source or resources_dir() / WEB_TASK_DEFINITION_FILE
    output = ctx.args.output or build_dir() / WEB_TASK_DEFINITION_FILE
    image = f"{_require(outputs, 'WebAppECRRepository')}:latest"
    document = fill_web_task_definition(
        load_task_definition(source),
        account_id=account,
        execution_role_arn=_require(outputs, "ECSTaskExecutionRoleArn"),
        task_role_arn=_require(outputs, "WebAppTaskRoleArn"),
        image=image,
        region=ctx.region,
    )
    write_task_definition(document, output, source)
    ctx.console.say("taskdef_written", path=str(output), image=image, source=str(source))
    if ctx.args.register:
        arn = ctx.session().client("ecs").register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]
        ctx.console.say("taskdef_registered", arn=arn)
    else:
        ctx.console.say("taskdef_register_hint", path=str(output), profile=ctx.profile or DEFAULT_PROFILE)
    return 0


# Local tags of the built images (LAB.md: `docker run web-app:latest`, `image-classifier:latest`).
LOCAL_TAGS = {"web": "web-app:latest", "classifier": "image-classifier:latest"}


def _images_module() -> Any:
    try:
        from ecslab import images
    except ImportError as exc:
        raise LabError("images_unavailable", error=str(exc)) from None
    return images


def _build_local_image(ctx: Context, client: Any) -> str:
    """Build ``web`` or ``classifier`` with :mod:`ecslab.images`; returns the local tag."""
    images = _images_module()
    args = ctx.args
    tag = LOCAL_TAGS[args.target]
    what = "web-app" if args.target == "web" else "image-classifier"
    ctx.console.say("build_started", what=what)
    if args.target == "web":
        image_id = images.build_web_image(client, tag, base_image=args.base_image)
    else:
        image_id = images.build_classifier_image(
            client, args.submission, tag, model_dir=args.model_dir, base_image=args.base_image
        )
    ctx.console.say("build_done", image=f"{tag} ({str(image_id)[:19]})")
    return tag


def _local_image_exists(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def cmd_build(ctx: Context) -> int:
    from ecslab.registry import docker_client

    _build_local_image(ctx, docker_client())
    return 0


def cmd_push(ctx: Context) -> int:
    from ecslab.registry import docker_client, push_image

    ctx.account()
    outputs = lab_outputs(ctx.session(), ctx.project)
    args = ctx.args
    repository_key = "WebAppECRRepository" if args.target == "web" else "ClassifierECRRepository"
    repository = _require(outputs, repository_key)
    operations_class = None
    if args.target == "classifier":
        # Load the student's code before any build: broken code fails fast, with its message.
        module = load_module(args.submission, OPERATIONS_MODULE)
        operations_class = get_attribute(module, "ImageClassifierOperations")

    client = docker_client()
    local = LOCAL_TAGS[args.target]
    if args.build or not _local_image_exists(client, local):
        _build_local_image(ctx, client)
    else:
        ctx.console.say("push_existing_image", image=local)

    if operations_class is None:
        push_image(ctx.session(), client, local, repository, ctx.console, tag=args.tag)
        return 0

    ctx.console.say("push_student", path=str(Path(args.submission) / f"{OPERATIONS_MODULE}.py"))
    try:
        operations = operations_class(region=ctx.region, session=ctx.session())
        reference = operations.push_image_to_ecr(local, repository)
    except (Exception, SystemExit) as exc:  # student code: report, never a traceback
        raise LabError("student_code_failed", function="push_image_to_ecr",
                       error=f"{type(exc).__name__}: {exc}") from None
    ctx.console.say("push_done", image=reference)
    return 0


def cmd_run_classifier(ctx: Context) -> int:
    ctx.account()
    module = load_module(ctx.args.submission, OPERATIONS_MODULE)
    main = get_attribute(module, "run_image_classification_lab")
    kwargs: dict[str, Any] = {"region": ctx.region, "session": ctx.session()}
    if ctx.args.image_url:
        kwargs["image_url"] = ctx.args.image_url
    try:
        code = main(**kwargs)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - student code: report, never a traceback
        raise LabError("student_code_failed", function="run_image_classification_lab",
                       error=f"{type(exc).__name__}: {exc}") from None
    if isinstance(code, bool) or not isinstance(code, int):
        ctx.console.fail("student_bad_return", function="run_image_classification_lab", value=code)
        return 1
    return code


def cmd_cleanup_step8(ctx: Context) -> int:
    ctx.account()
    changed = Cleaner(ctx.session(), ctx.console, LabNames(project=ctx.project)).step8()
    ctx.console.say("step8_done" if changed else "step8_nothing")
    return 0


def cmd_cleanup(ctx: Context) -> int:
    ctx.account()
    changed = Cleaner(ctx.session(), ctx.console, LabNames(project=ctx.project)).everything()
    ctx.console.say("cleanup_done" if changed else "cleanup_nothing")
    return 0


# ---------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None, session_factory: SessionFactory | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = requested_language(argv)
    try:
        with argparse_language(lang):
            args = build_parser(lang).parse_args(argv)
    except SystemExit as exc:  # --help or a usage error: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    console = Console(lang=args.lang)
    ctx = Context(args=args, console=console, session_factory=session_factory or make_session)
    try:
        return args.handler(ctx)
    except KeyboardInterrupt:
        console.fail("interrupted")
        return 130
    except LabError as exc:
        console.fail(exc.key, **exc.params)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the one boundary where errors become messages
        if os.environ.get("ECSLAB_DEBUG"):
            raise
        error = translate_error(exc, args.profile)
        console.fail(error.key, **error.params)
        return error.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
