"""A local ECS: the lab's ECS API on a moto server, with tasks that really run in Docker.

moto answers every AWS call of the lab (ECS, ECR, CloudWatch Logs, S3, STS, ...) but
runs nothing: ``RunTask`` returns a task that never starts. This package is the launcher
that standin.moto_bridge hands moto's FARGATE tasks and services to, in the process that runs
the moto server (standin.moto_server), so that a task really runs:

- ``RunTask`` resolves each container's image (an ECR repository URI maps to an
  image published into :class:`~standin.local_ecs.registry.LocalRegistry`; a missing
  image stops the task with a ``CannotPullContainerError`` reason and no exit code,
  as on Fargate), applies the command and environment overrides, gives the
  container the task role's credentials for the moto endpoint (STS AssumeRole on
  moto), ships its output to CloudWatch Logs as the ``awslogs`` driver does, and
  serves the task metadata endpoint v4;
- ``DescribeTasks`` reports the real lifecycle (PROVISIONING, PENDING,
  ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED), the
  container's real exit code and ``stoppedReason``; a task that outlives its time
  limit is stopped and reported as such; ``StopTask`` stops the containers;
- a FARGATE service keeps ``desiredCount`` tasks running and registers them with
  a local round-robin load balancer standing in for the ALB listener.

Compared with existing local emulators (read for their approach; none of their code is
used here): ministack's ECS (version read in 2026) starts RunTask containers but reports
RUNNING at once, applies environment but not command overrides, leaves a task RUNNING
forever when its container cannot be started, reports a single exit code for all
containers and ships no awslogs output; local-ecs-api turns a task definition into a
docker-compose file and needs compose; amazon-ecs-local-container-endpoints serves the
metadata and credentials endpoints but no ECS API. Here the student's unchanged boto3
code drives the whole lifecycle, with the reasons and codes that ECS gives.

Modules (one concern each):
  docker_resources  labels, tracking and removal of every container and network
  host_address      which address our servers bind and containers use to reach them
  registry          ECR stand-in: repository URIs -> local Docker images
  credentials       task role credentials (STS on moto) for a container
  awslogs           the awslogs driver: container output -> CloudWatch Logs
  metadata          task metadata endpoint v4
  lifecycle         task and container state as DescribeTasks reports it
  runner            runs one task: pull, create, start, watch, stop, clean up
  load_balancer     local round-robin HTTP load balancer (ALB listener stand-in)
  services          the service scheduler (desired count, load balancer targets)
  engine            LocalEcs: everything above, started and stopped together, and the
                    launcher of standin.moto_bridge (every patch of moto lives there)
"""

from standin.local_ecs.engine import LocalEcs, LocalEcsError

__all__ = ["LocalEcs", "LocalEcsError"]
