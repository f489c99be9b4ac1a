"""Checkpoint stacks (step 2), offline: the templates the student deploys are sound.

cfn-lint finds no error, the lab's own rules hold (names, ports, health check, least
privilege: moto's CloudFormation drops most of those properties), and both stacks deploy
into moto with every output the lab's code reads. (The aws tier checks the real stacks in
the account.) The submission's resources/ directory is used if it has one, the project's
otherwise.
"""

from pathlib import Path

import pytest

from ecslab.facts import IAM_OUTPUTS, INFRASTRUCTURE_OUTPUTS
from grader.feedback import Text, expect, fail
from grader.judges import templates
from grader.judges.cfn_lint import cfn_lint_errors
from grader.project import LAB_RESOURCES

PROJECT_RESOURCES = LAB_RESOURCES  # the lab's own templates


def _resources(submission) -> Path:
    own = submission.path / "resources"
    return own if own.is_dir() else PROJECT_RESOURCES


@pytest.mark.parametrize("template", ["infrastructure.yaml", "iam-roles.yaml"])
def test_cfn_lint_finds_no_error(submission, template):
    path = _resources(submission) / template
    expect(path.is_file(), f"Modèle introuvable : {path}.", f"Template not found: {path}.")
    try:
        errors = cfn_lint_errors(path)
    except templates.UnsafeTemplate as refused:
        fail(f"Modèle refusé : {refused}.", f"Template refused: {refused}.")
    expect(not errors, f"cfn-lint signale des erreurs dans {template}.", f"cfn-lint reports errors in {template}.",
           expected=Text("aucune erreur", "no error"), seen=errors[:5])


@pytest.mark.parametrize("template, rules", [
    ("infrastructure.yaml", (templates.network_problems, templates.storage_problems)),
    ("iam-roles.yaml", (templates.iam_problems,)),
])
def test_lab_rules(submission, template, rules):
    path = _resources(submission) / template
    try:
        document = templates.load_template(path)
    except (OSError, ValueError) as error:
        problems = [Text(f"illisible : {error}", f"unreadable: {error}")]
    else:
        problems = [problem for rule in rules for problem in rule(document)]
    expect(not problems, f"{template} ne respecte pas les valeurs du lab (noms, ports, health check, "
                         "moindre privilège).",
           f"{template} does not follow the lab's values (names, ports, health check, least privilege).",
           expected=Text("aucun écart", "no difference"), seen=problems[:5])


@pytest.mark.weight(2)
def test_both_stacks_deploy_with_every_output(lab_stacks):
    missing = sorted({*INFRASTRUCTURE_OUTPUTS, *IAM_OUTPUTS} - set(lab_stacks))
    expect(not missing, "Il manque des sorties aux piles : le code du lab les lit (get_stack_outputs).",
           "Outputs are missing from the stacks: the lab's code reads them (get_stack_outputs).",
           expected=Text("aucune sortie manquante", "no missing output"), seen=missing)
    expect(lab_stacks["ClassifierECRRepository"].endswith(".amazonaws.com/ecs-lab/image-classifier"),
           "ClassifierECRRepository doit être l'URI complète du dépôt ECR.",
           "ClassifierECRRepository must be the repository's full URI.",
           expected=Text("<compte>.dkr.ecr.eu-west-1.amazonaws.com/ecs-lab/image-classifier",
                         "<account>.dkr.ecr.eu-west-1.amazonaws.com/ecs-lab/image-classifier"),
           seen=lab_stacks["ClassifierECRRepository"])
