from grader.tiers.offline.fixtures import *  # noqa: F403 - the offline tier (grader/tiers/offline)
