"""The lab's facts, in one place: names, ports, stack outputs, region (shared/seed/lab-facts.md).

The lab's commands (ecslab), the grader's tiers and checks, and the project's tests all read
them from here; the student's files and the CloudFormation templates carry their own copies
(they are the lab's material), which tests/test_resources.py compares with these.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "ecs-lab"
REGION = "eu-west-1"
PROFILE = "aws-labs"
ACCOUNT_ID = "123456789012"  # moto's default account (offline and local tiers, tests)

CLUSTER = f"{PROJECT}-cluster"
INFRASTRUCTURE_STACK = f"{PROJECT}-infrastructure"
IAM_STACK = f"{PROJECT}-iam-roles"

# Part 1: the web service
WEB_SERVICE = "web-service"
WEB_FAMILY = "ecs-web-app"
WEB_CONTAINER = "web-app"
WEB_PORT = 3000
WEB_HEALTH_PATH = "/health"
WEB_CPU, WEB_MEMORY = "256", "512"
WEB_REPOSITORY = f"{PROJECT}/web-app"
WEB_LOG_GROUP = f"/ecs/{PROJECT}/web-app"
LOAD_BALANCER = f"{PROJECT}-alb"
TARGET_GROUP = f"{PROJECT}-tg"
SECURITY_GROUPS = (f"{PROJECT}-alb-sg", f"{PROJECT}-ecs-sg")
WEB_DESIRED_COUNT = 2

# Part 2: the classifier task
CLASSIFIER_FAMILY = "image-classifier"
CLASSIFIER_CONTAINER = "image-classifier"
CLASSIFIER_CPU, CLASSIFIER_MEMORY = "1024", "2048"
CLASSIFIER_REPOSITORY = f"{PROJECT}/image-classifier"
CLASSIFIER_LOG_GROUP = f"/ecs/{PROJECT}/image-classifier"
LOG_STREAM_PREFIX = "ecs"
CLASSIFIER_COMMAND = ("python", "classifier.py")  # + the image URL, or the input and output S3 URIs
RESULT_KEY = "output/result.json"

# IAM
EXECUTION_ROLE = f"{PROJECT}-task-execution-role"
WEB_TASK_ROLE = f"{PROJECT}-web-app-task-role"
CLASSIFIER_TASK_ROLE = f"{PROJECT}-image-classifier-task-role"
ROLES = (EXECUTION_ROLE, WEB_TASK_ROLE, CLASSIFIER_TASK_ROLE)

# The stacks' outputs the lab's code reads
INFRASTRUCTURE_OUTPUTS = ("VPCId", "SubnetIds", "ECSSecurityGroup", "LoadBalancerSecurityGroup", "LoadBalancerDNS",
                          "TargetGroup", "S3Bucket", "WebAppECRRepository", "ClassifierECRRepository",
                          "WebAppLogGroup", "ClassifierLogGroup")
IAM_OUTPUTS = ("ECSTaskExecutionRoleArn", "WebAppTaskRoleArn", "ImageClassifierTaskRoleArn")

# The student's files
OPS_MODULE = "image_classifier_operations"
S3_IO_MODULE = "s3_io"
STUDENT_MODULES = (OPS_MODULE, S3_IO_MODULE)
OPS_CLASS = "ImageClassifierOperations"


@dataclass(frozen=True)
class LabNames:
    """The lab's names that depend on the account and region."""

    account: str = ACCOUNT_ID
    region: str = REGION
    registry: str | None = None  # ECR's registry host when it is not AWS's (the sandbox: localhost:<port>)

    @property
    def bucket(self) -> str:
        return f"{PROJECT}-images-{self.account}-{self.region}"

    def repository_uri(self, repository: str) -> str:
        return f"{self.registry or f'{self.account}.dkr.ecr.{self.region}.amazonaws.com'}/{repository}"

    def role_arn(self, role: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{role}"

    def cluster_arn(self, cluster: str = CLUSTER) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:cluster/{cluster}"


def log_stream(task_arn: str, container: str = CLASSIFIER_CONTAINER, prefix: str = LOG_STREAM_PREFIX) -> str:
    """The awslogs driver's stream of a task's container: ``<prefix>/<container>/<task id>``."""
    return f"{prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"
