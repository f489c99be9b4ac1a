"""`ecs-lab sandbox`: the whole handout rehearsed on one machine, without an AWS account.

One process (:mod:`ecslab.sandbox.daemon`) stands in for the student's AWS account, on loopback:
moto with the local ECS (tasks and services really run in Docker), Docker's registry as ECR
(:mod:`ecslab.sandbox.registry`), CloudTrail's event history of the calls it received
(:mod:`ecslab.cloudtrail`), and a proxy that reaches the load balancers by their DNS names
(:mod:`ecslab.sandbox.proxy`). `ecs-lab sandbox env` exports an `aws-labs` profile and the
endpoint, so that LAB.md's commands, ``ecs-lab`` and ``pytest --tier aws`` run unchanged against
it. :mod:`ecslab.sandbox.home` says where its state lives; :mod:`ecslab.sandbox.persistence`
keeps it across `down --keep`; :mod:`ecslab.sandbox.commands` is the command line.
"""
