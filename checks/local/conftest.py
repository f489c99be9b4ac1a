from grader.tiers.local.fixtures import *  # noqa: F403 - the local tier (grader/tiers/local)
