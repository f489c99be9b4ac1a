"""The checks, one module per checkpoint and tier: checks/<tier>/test_<checkpoint>.py (grader/catalogue.yaml).

A package, installed with the grader: an installed grader grades without a checkout."""
