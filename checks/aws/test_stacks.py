"""Checkpoint stacks (step 2), aws: both stacks complete in the account, with every output.

Read: CloudFormation DescribeStacks. The outputs are the ones the lab's code reads
(lab-facts.md), with the lab's names for this account and region. The stacks stay until
the final clean-up (step 8 deletes the ALB and target group by hand; the stack keeps its
status and outputs), so the checkpoint is verified at stages part1, after-step8 and part2.
"""

import re

import pytest

from grader.tiers.aws import lookup
from grader.feedback import expect

pytestmark = pytest.mark.stage("part1", "after-step8", "part2")


def _complete_stack(world, name):
    found = lookup.stack(world, name)
    expect(found is not None, f"La pile {name} n'existe pas dans {world.region} : déployez-la (ecs-lab deploy).",
           f"Stack {name} does not exist in {world.region}: deploy it (ecs-lab deploy).", expected=name, seen=lookup.NOTHING)
    status = found["StackStatus"]
    expect(status in lookup.STACK_COMPLETE,
           f"La pile {name} n'est pas dans un état terminé : {status} "
           f"({found.get('StackStatusReason') or 'voir ses événements dans la console CloudFormation'}).",
           f"Stack {name} is not complete: {status} "
           f"({found.get('StackStatusReason') or 'see its events in the CloudFormation console'}).",
           expected="CREATE_COMPLETE", seen=status)
    outputs = lookup.outputs_of(found)
    world.note(stack=name, status=status, created=found.get("CreationTime"),
             updated=found.get("LastUpdatedTime"))
    return outputs


def _expect_outputs(name, outputs, wanted):
    missing = sorted(key for key in wanted if not outputs.get(key))
    expect(not missing, f"Il manque des sorties à la pile {name} (le code du lab les lit).",
           f"Stack {name} lacks outputs (the lab's code reads them).", expected=sorted(wanted), seen=sorted(outputs))
    wrong = {key: outputs[key] for key, check in wanted.items() if not check(outputs[key])}
    expect(not wrong, f"Des sorties de la pile {name} n'ont pas les valeurs du lab (noms, compte, région).",
           f"Some outputs of stack {name} do not have the lab's values (names, account, region).",
           expected={key: _describe(wanted[key]) for key in wrong}, seen=wrong)


def _equals(value):
    check = lambda seen: seen == value
    check.description = value
    return check


def _matches(pattern, description):
    check = lambda seen: re.fullmatch(pattern, seen) is not None
    check.description = description
    return check


def _describe(check):
    return getattr(check, "description", "?")


def test_infrastructure_stack_complete_with_its_outputs(world, names):
    outputs = _complete_stack(world, lookup.INFRASTRUCTURE_STACK)
    region = re.escape(world.region)
    _expect_outputs(lookup.INFRASTRUCTURE_STACK, outputs, {
        "VPCId": _matches(r"vpc-[0-9a-f]+", "vpc-..."),
        "SubnetIds": _matches(r"subnet-[0-9a-f]+(,subnet-[0-9a-f]+)+", "subnet-...,subnet-... (au moins 2)"),
        "ECSSecurityGroup": _matches(r"sg-[0-9a-f]+", "sg-..."),
        "LoadBalancerSecurityGroup": _matches(r"sg-[0-9a-f]+", "sg-..."),
        "LoadBalancerDNS": _matches(rf"{lookup.LOAD_BALANCER}-[\w.-]+\.{region}\.elb\.amazonaws\.com",
                                    f"{lookup.LOAD_BALANCER}-....{world.region}.elb.amazonaws.com"),
        "TargetGroup": _matches(rf"arn:aws[\w-]*:elasticloadbalancing:{region}:{names.account}:targetgroup/"
                                rf"{lookup.TARGET_GROUP}/\w+",
                                f"arn:aws:elasticloadbalancing:...:targetgroup/{lookup.TARGET_GROUP}/..."),
        "S3Bucket": _equals(names.bucket),
        "WebAppECRRepository": _equals(names.repository_uri(lookup.WEB_REPOSITORY)),
        "ClassifierECRRepository": _equals(names.repository_uri(lookup.CLASSIFIER_REPOSITORY)),
        "WebAppLogGroup": _equals(lookup.WEB_LOG_GROUP),
        "ClassifierLogGroup": _equals(lookup.CLASSIFIER_LOG_GROUP),
    })


def test_iam_stack_complete_with_its_outputs(world, names):
    outputs = _complete_stack(world, lookup.IAM_STACK)
    _expect_outputs(lookup.IAM_STACK, outputs, {
        "ECSTaskExecutionRoleArn": _equals(names.role_arn(lookup.EXECUTION_ROLE)),
        "WebAppTaskRoleArn": _equals(names.role_arn(lookup.WEB_TASK_ROLE)),
        "ImageClassifierTaskRoleArn": _equals(names.role_arn(lookup.CLASSIFIER_TASK_ROLE)),
    })
