"""A class graded on ECS: ``ecs-lab grade SUBMISSIONS --on ecs`` (the same outputs as a local batch).

    the instructor's machine (launch.py)                       Fargate tasks of the grader's image (task.py)
    stage the submissions (grader.batch.cli) ─ S3 runs/<run>/input/<id>/ ─┐
    one SQS message per submission ───────────────────────────────────────┼→ take a message, grade it with
    start N tasks, keep N running while work is left                      │  grader.runner (as a local batch),
    follow: runs/<run>/done/<id>.json → OUT/<id>/ (reports) ←─────────────┘  put the reports, delete the message
    a stopped task: what it held is released at once, graded elsewhere; held twice: the dead-letter queue

- ``protocol.py``: the message, the S3 keys and the task's environment (what both sides read);
- ``stack.py`` and ``grading-stack.yaml``: the grading stack (cluster, bucket, queues, log group,
  roles, security group, ECR repository), deployed when missing;
- ``image.py``: the grader's image, the Gradescope autograder's (its setup.sh on the base image),
  built and pushed when the repository lacks it;
- ``policy.py``: what the task role's policy allows (checked before anything starts);
- ``costs.py``: Fargate's price of a run, printed before it starts;
- ``cli.py``: the command, a Remote of the local batch (grader.batch.cli: the same staging, rows
  and outputs); ``launch.py``: the instructor's side of a run; ``task.py``: the container's entry point.

The same command runs against ``ecs-lab sandbox`` (moto, a local ECS that runs the tasks in Docker,
a registry standing in for ECR) and against a real account: only the profile differs.
"""
