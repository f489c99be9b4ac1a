"""Lab 8 (Amazon ECS basics): the lab's helper commands and shared lab code.

Modules, one concern each:

- ``cli``         the ``ecs-lab`` console script (argument parsing, dispatch, exit codes)
- ``console``     French/English messages printed to the student
- ``errors``      ``LabError``, the only exception the CLI turns into a message
- ``aws``         boto3 session creation and translation of AWS errors
- ``network``     the default VPC and its subnets
- ``stacks``      the two CloudFormation stacks (deploy, outputs, delete)
- ``taskdef``     the web task definition filled from the stacks' outputs
- ``registry``    ECR login, tag and push with the Docker SDK
- ``images``      building the two container images (Docker SDK)
- ``cleanup``     the step 8 clean-up and the final clean-up
- ``submission``  loading a student's module by path
- ``facts``       the lab's names, ports and outputs (one place for the lab, the grader and the tests)
- ``sandbox_commands``  ``ecs-lab sandbox up|down|status|env`` (the sandbox itself: ``standin.sandbox``)

The stand-in for AWS (moto and its bridge, the local ECS, the sandbox) is the package ``standin``,
below this one; the grader's commands join ``ecs-lab`` through the ``ecs_lab.commands`` entry points.
"""

from ecslab.facts import CLASSIFIER_FAMILY as CLASSIFIER_TASK_FAMILY
from ecslab.facts import CLUSTER as CLUSTER_NAME
from ecslab.facts import PROFILE as DEFAULT_PROFILE
from ecslab.facts import PROJECT as LAB_PROJECT
from ecslab.facts import REGION as DEFAULT_REGION
from ecslab.facts import WEB_FAMILY as WEB_TASK_FAMILY
from ecslab.facts import WEB_SERVICE as WEB_SERVICE_NAME

__all__ = ["CLASSIFIER_TASK_FAMILY", "CLUSTER_NAME", "DEFAULT_PROFILE", "DEFAULT_REGION", "LAB_PROJECT",
           "WEB_SERVICE_NAME", "WEB_TASK_FAMILY"]
