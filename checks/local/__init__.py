"""The local tier's checks (a package, so that its module names never clash with the other tiers')."""
