"""A stand-in for AWS on one machine: what the grader's tiers, the sandbox and the tests run against.

Below both the lab's commands (ecslab) and the grader, it imports neither: the lab's names (region,
profile) are given by its callers.

- ``moto_server``  a moto server in this process (TCP, and a Unix socket); ``serving`` its WSGI servers
- ``moto_bridge``  every patch of moto: where it differs from AWS, and the hook the local ECS runs through
- ``local_ecs``    a local ECS whose tasks and services really run in Docker, behind local load balancers
- ``cloudtrail``   CloudTrail's event history (LookupEvents), answered from the calls a server received
- ``sandbox``      the student's whole AWS account on loopback (``ecs-lab sandbox``): moto, the local
                   ECS, Docker's registry as ECR, CloudTrail, a proxy to the load balancers
- ``processes``    whether a process still runs
"""
