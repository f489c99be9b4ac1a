"""Placeholder: being written (see grader/commands.py for the interface)."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, lang: str) -> int:
    raise NotImplementedError
