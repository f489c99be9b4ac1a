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
"""

LAB_PROJECT = "ecs-lab"
CLUSTER_NAME = "ecs-lab-cluster"
WEB_SERVICE_NAME = "web-service"
WEB_TASK_FAMILY = "ecs-web-app"
CLASSIFIER_TASK_FAMILY = "image-classifier"
DEFAULT_PROFILE = "aws-labs"
DEFAULT_REGION = "eu-west-1"
