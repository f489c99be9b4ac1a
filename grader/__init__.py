"""Grading engine of Lab 8: catalogue of checkpoints, pytest plugin, feedback, results, reports."""
