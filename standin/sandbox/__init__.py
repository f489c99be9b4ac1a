"""`ecs-lab sandbox`: the whole handout rehearsed on one machine, without an AWS account.

One process (:mod:`standin.sandbox.daemon`) stands in for the student's AWS account, on loopback:
moto with the local ECS (tasks and services really run in Docker), Docker's registry as ECR
(:mod:`standin.sandbox.registry`), CloudTrail's event history of the calls it received
(:mod:`standin.cloudtrail`), and a proxy that reaches the load balancers by their DNS names
(:mod:`standin.sandbox.proxy`). `ecs-lab sandbox env` exports an `aws-labs` profile and the
endpoint, so that LAB.md's commands, ``ecs-lab`` and ``pytest --tier aws`` run unchanged against
it. :mod:`standin.sandbox.home` says where its state lives; :mod:`standin.sandbox.persistence`
keeps it across `down --keep`; :mod:`standin.sandbox_commands` is the command line.
"""
