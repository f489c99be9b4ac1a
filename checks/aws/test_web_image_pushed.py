"""Checkpoint web_image_pushed (step 4), aws: ecs-lab/web-app:latest is in ECR.

Read: ECR DescribeImages (the tag, its digest and when it was pushed: kept in the tier's
evidence, aws-tier.json) and BatchGetImage (the manifest: when it is a multi-platform index,
it must hold linux/amd64, what Fargate runs by default). The repository and its images stay
until the final clean-up: verified at stages part1, after-step8 and part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.tiers.aws.images import expect_pushed

pytestmark = pytest.mark.stage("part1", "after-step8", "part2")


def test_latest_pushed_for_linux_amd64(world):
    expect_pushed(world, lookup.WEB_REPOSITORY, "ecs-lab push web")
