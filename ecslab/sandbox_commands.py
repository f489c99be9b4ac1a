"""`ecs-lab sandbox up | down [--keep] | status | env [--unset]`: the student's side of the sandbox.

`up` checks what the sandbox needs (Docker, the registry program, free ports), starts
``python -m standin.sandbox.daemon`` in a session of its own (closing the terminal does not stop
it) and waits until it answers; Ctrl-C while it starts stops it again. `down` asks it to stop
(SIGTERM; `--keep` first says to save the state) and, if it had died without cleaning up,
removes what it left: its registry process, its containers and network, by their labels.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

from ecslab.errors import LabError
from ecslab.facts import PROFILE, REGION
from standin.sandbox.home import Home, default_home, default_port, pid_alive, port_taken

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0


def _t(ctx: Any, fr: str, en: str) -> str:
    return en if ctx.console.lang == "en" else fr


def _home(ctx: Any) -> Home:
    return Home(default_home())


def _docker_problem() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as error:  # noqa: BLE001 - said in one sentence
        return f"{type(error).__name__}: {error}"[:200]
    return None


def cmd_up(ctx: Any) -> int:
    home = _home(ctx)
    running = home.running()
    if running:
        ctx.console.say("sandbox_already_running", pid=running["pid"], endpoint=f"http://127.0.0.1:{running['port']}")
        return 0
    if home.state():  # a sandbox that died without cleaning up
        _remove_leftovers(ctx, home, home.state() or {})
    kept_port = home.saved_port()
    if kept_port and ctx.args.port and ctx.args.port != kept_port:
        raise LabError("sandbox_port_kept", port=kept_port)
    port = kept_port or ctx.args.port or default_port()
    for offset, what in enumerate((_t(ctx, "AWS / moto", "AWS / moto"), _t(ctx, "ECR / registre", "ECR / registry"),
                                   _t(ctx, "proxy des load balancers", "the load balancers' proxy"))):
        if port_taken(port + offset):
            raise LabError("sandbox_port_taken", port=port + offset, what=what)
    problem = _docker_problem()
    if problem:
        raise LabError("sandbox_no_docker", error=problem)
    from standin.sandbox.registry import (
        registry_binary,  # imports the local ECS: only when starting
    )

    if registry_binary() is None:
        raise LabError("sandbox_no_registry")
    home.path.mkdir(parents=True, exist_ok=True)
    home.stop_request.unlink(missing_ok=True)
    home.write_profile(port, PROFILE, REGION)
    ctx.console.say("sandbox_starting")
    started = time.monotonic()
    with home.log_file.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "standin.sandbox.daemon", str(home.path), str(port), REGION],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                   env=_daemon_environment())
    try:
        state = _wait_ready(home, process)
    except KeyboardInterrupt:
        _abort(home, process.pid)
        ctx.console.say("sandbox_interrupted")
        return 130
    if state is None:
        reason = _last_error(home)
        _abort(home, process.pid)
        raise LabError("sandbox_start_failed", reason=reason, log=home.log_file if home.log_file.exists() else "-")
    restored = (ctx.console.text("sandbox_restored", services=state.get("services_restarted", 0))
                if state.get("restored") else "")
    ctx.console.say("sandbox_ready", seconds=f"{time.monotonic() - started:.1f}", restored=restored)
    return 0


def _daemon_environment() -> dict[str, str]:
    """This shell's environment without what `sandbox env` (or a real account) set: the sandbox's
    own clients must not go through its proxy, nor read a profile."""
    dropped = {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
    environ = {k: v for k, v in os.environ.items() if k.lower() not in dropped and not k.startswith("AWS_")}
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


def _wait_ready(home: Home, process: subprocess.Popen) -> dict | None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        state = home.state()
        if state and state.get("pid") == process.pid:
            return state
        time.sleep(0.1)
    return None


def _last_error(home: Home) -> str:
    try:
        lines = [line for line in home.log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "?"
    for line in reversed(lines[-60:]):
        if "Error" in line or "error" in line:
            return line.strip()[:300]
    return (lines[-1].strip()[:300]) if lines else "?"


def _abort(home: Home, pid: int) -> None:
    """An `up` that did not finish: the sandbox stops, a state kept earlier stays as it was, and
    nothing else this `up` wrote remains (also when the process died before its own clean-up)."""
    had_saved = home.saved_dir.is_dir()
    if not _stop(home, pid, "abort"):
        _remove_leftovers(None, home, home.state() or {})
    home.stop_request.unlink(missing_ok=True)
    home.abandon(kept_before=had_saved)


def _stop(home: Home, pid: int, mode: str) -> bool:
    """Ask the sandbox to stop ("forget", "keep", "abort"); True when it stopped after its own clean-up
    (it removes state.json last)."""
    home.stop_request.write_text(mode)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)  # our child when up stops it
        except ChildProcessError:
            finished = 0
        if finished == pid or not pid_alive(pid):
            return not home.state_file.exists()
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return False


def _remove_leftovers(ctx: Any, home: Home, state: dict) -> None:
    """What a sandbox killed without cleaning up left: its registry, containers, network, state."""
    registry_pid = int(state.get("registry_pid") or 0)
    if registry_pid and pid_alive(registry_pid):
        os.kill(registry_pid, signal.SIGTERM)
    run_id = state.get("run_id")
    if run_id:
        try:
            import docker

            from standin.local_ecs.docker_resources import RUN_LABEL

            client = docker.from_env(timeout=30)
            for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
                container.remove(force=True, v=True)
            for network in client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"}):
                network.remove()
        except Exception:  # noqa: BLE001 - Docker gone: nothing of ours can be left in it
            pass
    home.state_file.unlink(missing_ok=True)
    if state.get("pid") and ctx is not None:
        ctx.console.say("sandbox_leftovers", pid=state["pid"])


def cmd_down(ctx: Any) -> int:
    home = _home(ctx)
    keep = ctx.args.keep
    state = home.state()
    if state is None:
        if not keep:  # `down` also erases a state kept by an earlier `down --keep`
            kept = home.saved_dir.is_dir()
            home.erase()
            if kept:
                ctx.console.say("sandbox_stopped")
                return 0
        kept = home.saved_dir.is_dir()
        ctx.console.say("sandbox_nothing_to_stop", kept=ctx.console.text("sandbox_kept_state") if kept else "")
        return 0
    pid = int(state.get("pid", 0))
    if pid_alive(pid):
        ctx.console.say("sandbox_stopping", pid=pid)
        if not _stop(home, pid, "keep" if keep else "forget"):
            _remove_leftovers(ctx, home, state)
    else:
        _remove_leftovers(ctx, home, state)
    if not keep:
        home.erase()
    home.stop_request.unlink(missing_ok=True)
    ctx.console.say("sandbox_stopped_kept" if keep else "sandbox_stopped")
    return 0


def cmd_env(ctx: Any) -> int:
    home = _home(ctx)
    state = home.running()
    variables = home.environment(int(state["port"]) if state else default_port(), PROFILE, REGION, state)
    if ctx.args.unset:
        print("unset " + " ".join([*variables, "ECS_LAB_SANDBOX_NETWORK", "ECS_LAB_SANDBOX_CONTAINER_ENDPOINT"]
                                  if state is None else variables))
        return 0
    if state is None:
        raise LabError("sandbox_not_running")
    for key, value in variables.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_status(ctx: Any) -> int:
    home = _home(ctx)
    state = home.running()
    if state is None:
        ctx.console.fail("sandbox_not_running")
        return 3
    port = int(state["port"])
    since = datetime.fromtimestamp(state["started_at"]).strftime("%H:%M")
    say = ctx.console.raw
    say(_t(ctx, f"Bac à sable : en marche (pid {state['pid']}, depuis {since})",
           f"Sandbox: running (pid {state['pid']}, since {since})"))
    say(f"  AWS (moto)  : http://127.0.0.1:{port}  "
        + _t(ctx, "(profil aws-labs, région eu-west-1)", "(profile aws-labs, region eu-west-1)"))
    say(f"  ECR         : localhost:{state['registry_port']}  "
        + _t(ctx, "(docker login / push / pull)", "(docker login / push / pull)"))
    say(f"  http_proxy  : http://127.0.0.1:{state['proxy_port']}  "
        + _t(ctx, "(les noms DNS des load balancers ; un navigateur : cette adresse)",
             "(the load balancers' DNS names; a browser: this address)"))
    try:
        lines = _resources(port)
    except Exception as error:  # noqa: BLE001
        lines = [_t(ctx, f"  (ressources illisibles : {error})", f"  (resources unreadable: {error})")]
    for line in lines:
        say(line)
    say(_t(ctx, f"  Journal     : {home.log_file}", f"  Log         : {home.log_file}"))
    return 0


def _resources(port: int) -> list[str]:
    import boto3

    from standin.sandbox.home import ACCESS_KEY, SECRET_KEY

    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    endpoint = f"http://127.0.0.1:{port}"
    lines = []
    for balancer in session.client("elbv2", endpoint_url=endpoint).describe_load_balancers()["LoadBalancers"]:
        lines.append(f"  ALB         : http://{balancer['DNSName']}/")
    ecs = session.client("ecs", endpoint_url=endpoint)
    for cluster in ecs.list_clusters()["clusterArns"]:
        running = ecs.list_tasks(cluster=cluster)["taskArns"]
        services = ecs.list_services(cluster=cluster)["serviceArns"]
        lines.append(f"  ECS         : {cluster.rsplit('/', 1)[-1]}: {len(services)} service(s), "
                     f"{len(running)} task(s) RUNNING")
    return lines
