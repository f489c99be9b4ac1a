"""Test doubles and fixtures-behind-fixtures used by the checks."""
