from grader.tiers.aws.fixtures import *  # noqa: F403 - the aws tier (grader/tiers/aws)
