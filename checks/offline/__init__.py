"""The offline tier's checks (a package: its module names repeat those of the other tiers)."""
