"""The sandbox's process (started by `ecs-lab sandbox up`, stopped by `down`).

    python -m standin.sandbox.daemon <home> <port> <region>

Runs, until SIGTERM or SIGINT: the registry standing in for ECR (its own process, which dies
with this one), the local ECS (moto, on <port> for the student and on the sandbox's Docker
network for its tasks; tasks and services that really run in Docker), CloudTrail's history of
the calls received, and the proxy that reaches the load balancers by their DNS names. When
everything answers it writes <home>/state.json; `up` waits for that file. SIGTERM is handled
from the first line (before the imports), so a stop at any moment cleans up.

How it stops, as <home>/stop-request says: "forget" (`down`): everything `up` wrote is erased;
"keep" (`down --keep`): moto's state and CloudTrail's history are saved and the registry's data
kept; "abort" (Ctrl-C during `up`): nothing is saved, and a state kept earlier stays as it was.
In every case every container and network it started is removed, the images its tasks pulled
from the registry are untagged, and the registry stops.
"""

from __future__ import annotations

import signal
import sys


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":  # before anything slow: a `down` during the imports still cleans up
    signal.signal(signal.SIGTERM, _interrupt)

import logging
import os
import threading
import time
from pathlib import Path

from standin.sandbox.home import Home

log = logging.getLogger("standin.sandbox")


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


def stop_mode(home: Home) -> str:
    try:
        mode = home.stop_request.read_text().strip()
    except OSError:
        return "forget"
    return mode if mode in ("keep", "abort") else "forget"


def run(home: Home, port: int, region: str) -> int:
    from standin.cloudtrail import EventHistory, TrailRecorder
    from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
    from standin.moto_server import FAKE_KEY
    from standin.sandbox import persistence
    from standin.sandbox.proxy import LoadBalancerProxy
    from standin.sandbox.registry import RegistryProcess, RegistryStore, SandboxImages

    started = time.monotonic()
    had_saved = home.saved_dir.is_dir()
    history = EventHistory()
    store = RegistryStore(port + 1)
    registry = RegistryProcess(home.registry_dir, port + 1)
    pulls: list[SandboxImages] = []
    ecs = proxy = None

    def images(docker, ecr):
        pulls.append(SandboxImages(docker, ecr, store))
        return pulls[-1]

    try:
        from standin.local_ecs import LocalEcs

        registry.start()
        ecs = LocalEcs(
            region=region, moto_also=(("127.0.0.1", port),), public_bind="127.0.0.1", lookup_events=history.lookup,
            ecr_registry=store, images=images,
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
        mode = stop_mode(home)
        if mode == "keep" and ecs is not None and ecs.moto is not None:
            try:
                persistence.save(home.saved_dir, history, port)
            except Exception:
                log.exception("sandbox: the state could not be saved")
                mode = "forget"
        if proxy is not None:
            proxy.close()
        if ecs is not None:
            ecs.close()
        for puller in pulls:
            puller.remove_pulled()
        registry.stop()
        home.state_file.unlink(missing_ok=True)  # last: `down` knows the clean-up is done
        home.stop_request.unlink(missing_ok=True)
        if mode == "forget":
            home.erase()
        elif mode == "abort":
            home.abandon(kept_before=had_saved)
    return 0


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    argv = sys.argv[1:] if argv is None else argv
    home, port, region = Home(Path(argv[0])), int(argv[1]), argv[2]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        return run(home, port, region)
    except KeyboardInterrupt:  # between the imports and run()'s own handling
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
