"""Checkpoint classifier_image_pushed (step 10), aws: ecs-lab/image-classifier:latest is in ECR.

Read: ECR DescribeImages (tag, digest, push time: kept in aws-tier.json) and BatchGetImage
(a multi-platform index must hold linux/amd64). Pushed in step 10, after step 8: verified at
stage part2.
"""

import pytest

from grader.tiers.aws import lookup
from grader.tiers.aws.images import expect_pushed

pytestmark = pytest.mark.stage("part2")


def test_latest_pushed_for_linux_amd64(world):
    expect_pushed(world, lookup.CLASSIFIER_REPOSITORY, "ecs-lab push classifier")
