"""The sandbox's process (started by `ecs-lab sandbox up`, stopped by `down`).

    python -m ecslab.sandbox.daemon <home> <port>

Runs, until SIGTERM or SIGINT: the registry standing in for ECR (its own process, which dies
with this one), the local ECS (moto, on <port> for the student and on the sandbox's Docker
network for its tasks; tasks and services that really run in Docker), CloudTrail's history of
the calls received, and the proxy that reaches the load balancers by their DNS names. When
everything answers it writes <home>/state.json; `up` waits for that file. On the way out it saves
moto's state if `down --keep` asked for it, removes every container and network it started, and
stops the registry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from ecslab.cloudtrail import EventHistory, TrailRecorder
from ecslab.facts import ACCOUNT_ID
from ecslab.moto_server import FAKE_KEY
from ecslab.sandbox import persistence
from ecslab.sandbox.home import Home
from ecslab.sandbox.proxy import LoadBalancerProxy
from ecslab.sandbox.registry import RegistryProcess, RegistryStore, SandboxImages

log = logging.getLogger("ecslab.sandbox")


def listener_lookup(ecs):
    """host -> the local URL of the listener of the load balancer with that DNS name (or None);
    no host: the only load balancer's."""
    def listener_for(host: str | None) -> str | None:
        balancers = ecs.client("elbv2").describe_load_balancers()["LoadBalancers"]
        if host is None:
            return ecs.load_balancer_url(balancers[0]["DNSName"]) if len(balancers) == 1 else None
        for balancer in balancers:
            if balancer["DNSName"].lower() == host.lower():
                return ecs.load_balancer_url(balancer["DNSName"])
        return None
    return listener_for


def run(home: Home, port: int) -> int:
    from ecslab.local_ecs import LocalEcs

    started = time.monotonic()
    history = EventHistory()
    store = RegistryStore(port + 1)
    registry = RegistryProcess(home.registry_dir, port + 1)
    ecs = proxy = None
    keep = False
    try:
        registry.start()
        ecs = LocalEcs(
            moto_also=(("127.0.0.1", port),), public_bind="127.0.0.1", lookup_events=history.lookup,
            ecr_registry=store, images=lambda docker, ecr: SandboxImages(docker, ecr, store),
            moto_wrap=lambda app: TrailRecorder(app, history, ignored_keys={FAKE_KEY},
                                                account_of=lambda key: ACCOUNT_ID))
        ecs.start()
        restored = persistence.restore(home.saved_dir, history)
        services = persistence.restart_services(ecs) if restored else 0
        proxy = LoadBalancerProxy(port + 2, listener_lookup(ecs))
        home.write_state({
            "pid": os.getpid(), "port": port, "registry_port": port + 1, "proxy_port": port + 2,
            "run_id": ecs.resources.run_id, "network": ecs.network.name,
            "container_endpoint": ecs.container_endpoint_url, "registry_pid": registry.process.pid,
            "restored": restored, "services_restarted": services, "started_at": time.time(),
            "startup_s": round(time.monotonic() - started, 2),
        })
        log.info("sandbox ready in %.1f s (restored: %s)", time.monotonic() - started, restored)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        try:
            keep = home.stop_request.is_file() and home.stop_request.read_text().strip() == "keep"
        except OSError:
            keep = False
        if keep and ecs is not None and ecs.moto is not None:
            try:
                persistence.save(home.saved_dir, history)
            except Exception:  # noqa: BLE001 - the stop goes on: say it, never hang
                log.exception("sandbox: the state could not be saved")
                keep = False
        if proxy is not None:
            proxy.close()
        if ecs is not None:
            ecs.close()
        registry.stop()
        home.state_file.unlink(missing_ok=True)
        home.stop_request.unlink(missing_ok=True)
        if not keep:
            forget(home)
    return 0


def forget(home: Home) -> None:
    """Everything `up` wrote: the registry's images, the saved state, the profile."""
    for folder in (home.registry_dir, home.saved_dir, home.aws_dir):
        shutil.rmtree(folder, ignore_errors=True)
    home.log_file.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        home.path.rmdir()  # only when empty: a folder the user chose keeps what else it holds


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    home, port = Home(Path(argv[0])), int(argv[1])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return run(home, port)


if __name__ == "__main__":
    raise SystemExit(main())
