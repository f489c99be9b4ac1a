"""Shared fixtures and helpers of the tests of resources/ and ecslab/ (in-process moto)."""
