"""``ecs-lab grade SUBMISSIONS --on ecs``: a local batch (grader.batch.cli) whose jobs Fargate tasks grade.

The batch finds, stages and records the submissions and writes the same outputs; this module is
its Remote: the preflight and the estimate before anything starts (``--dry-run`` stops there), then
grader.ecs.launch's run. Its errors become the batch's: one sentence and exit status 2 before the
start, exit status 1 after it (what was graded is kept).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from grader.batch import cli as batch
from grader.ecs.launch import Launcher, LaunchError, settings_from
from grader.feedback import Text
from grader.runner import Finished, Job


def run(args: argparse.Namespace, lang: str) -> int:
    return batch.run(args, lang, remote=EcsRemote(args, lang))


class EcsRemote:
    def __init__(self, args: argparse.Namespace, lang: str) -> None:
        self.args, self.lang = args, lang
        self.launcher: Launcher | None = None

    @property
    def tasks(self) -> int:
        return self.launcher.settings.tasks

    def prepare(self, submissions: int) -> bool:
        try:
            self.launcher = Launcher(settings_from(self.args), self.lang, say=lambda line: print(line, flush=True))
            self.launcher.preflight(dry_run=self.args.dry_run)
        except LaunchError as error:
            raise batch.BatchError(error.text) from None
        if self.args.dry_run:
            print(self.estimate(submissions)(self.lang))
            print(Text("--dry-run : rien n'a été lancé.", "--dry-run: nothing was started.")(self.lang), flush=True)
            return False
        return True

    def estimate(self, jobs: int) -> Text:
        estimate, region = self.launcher.estimate(jobs), self.launcher.session.region_name
        return Text(estimate.describe("fr", region), estimate.describe("en", region))

    def run(self, jobs: list[Job], on_finished: Callable[[Finished], None], progress: object) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.launcher.run(jobs, on_finished, progress)
        except LaunchError as error:
            raise batch.RemoteFailed(error.text(self.lang)) from None
        except (BotoCoreError, ClientError, RuntimeError) as error:
            raise batch.RemoteFailed(f"{type(error).__name__}: {error}") from None
