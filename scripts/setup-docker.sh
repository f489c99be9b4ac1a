#!/usr/bin/env bash
# setup-docker.sh: make the local Docker tier runnable on a fresh Debian
# bookworm machine (CI included). Idempotent: run it as often as you like.
#
# What it does, in order:
#   1. Engine. If `docker info` already answers, the engine is left alone
#      (nothing installed, nothing started). Otherwise, as root: install
#      Debian's `docker.io` (and `debootstrap`) with apt-get when `dockerd` is
#      missing, start `dockerd` in the background (log: .cache/docker/dockerd.log)
#      and wait, bounded, until `docker info` answers.
#      Debian's `docker-registry` too (ecs-lab sandbox's ECR), when root.
#   2. Base image for the Dockerfiles' `BASE_IMAGE` build argument. Docker Hub
#      cannot be reached on the project's machines, so `python:3.11-slim` cannot
#      be pulled. In that case a local equivalent is built once:
#      `debootstrap --variant=minbase` of Debian bookworm with python3 (3.11),
#      python3-venv, python-is-python3 and ca-certificates, a virtualenv in
#      /opt/venv first on PATH (so `python` and `pip install` behave as in the
#      official image, without Debian's "externally managed" refusal), then
#      `tar | docker import --change ENV/CMD/LABEL`, tagged
#      ecs-lab/python-base:3.11-bookworm. The debootstrapped root fs is cached
#      as a tarball in .cache/docker/, so a rebuild of the image (for example
#      after a change of the host's CA bundle) does not debootstrap again. The
#      image is not rebuilt while its `ecs-lab.base-key` label matches.
#      Host settings copied into the image so that pip, requests and boto3 in
#      containers reach PyPI here:
#        - the HOST CA bundle /etc/ssl/certs/ca-certificates.crt (the egress of
#          these machines re-signs TLS with its own CA), plus the host's extra
#          CAs in /usr/local/share/ca-certificates/ so that an
#          update-ca-certificates in a container keeps them; ENV PIP_CERT,
#          REQUESTS_CA_BUNDLE, SSL_CERT_FILE, AWS_CA_BUNDLE point at the bundle;
#        - pip's index settings (index-url, extra-index-url, trusted-host)
#          from `pip config list` / PIP_* variables, but only http(s)
#          ones: the host's file:// indexes and find-links (/opt/pypi, /opt/wheels)
#          do not exist in a container, and pip reaches PyPI directly here;
#        - proxy variables (HTTP(S)_PROXY, NO_PROXY), when the host has any
#          (none here: the egress is a transparent proxy);
#        - apt's Acquire::Check-Valid-Until/Check-Date "false" when the host
#          sets them (its mirror serves a dated snapshot).
#   3. Network for builds. A probe container makes an HTTPS request to the
#      package index from the default bridge network, then (if that fails) from
#      the host network, and the script prints which one builds should use
#      (ECS_LAB_BUILD_NETWORK). The probe is re-run every time (about 1 s)
#      because the answer belongs to the machine, not to the project.
#      FINDING on the project's machines (2 cores, Debian bookworm, docker.io
#      20.10.24, cgroup v1, iptables-nft, a transparent egress proxy that
#      re-signs TLS): containers on the default bridge network DO reach PyPI
#      (DNS through the host's resolver, NAT by dockerd's iptables rules), as
#      long as the image trusts the host's CA bundle, so builds need no
#      network_mode=host (ECS_LAB_BUILD_NETWORK=default). Docker Hub is not
#      reachable (its name does not resolve), so `docker pull` fails at once.
#   4. Prints, on stdout, `export KEY=VALUE` lines (progress goes to stderr),
#      and writes the same settings as plain KEY=VALUE lines to
#      .cache/docker/base-image.env:
#        eval "$(bash scripts/setup-docker.sh)"     # or
#        set -a; . .cache/docker/base-image.env; set +a
#      ECS_LAB_BASE_IMAGE           value for the Dockerfiles' BASE_IMAGE
#      ECS_LAB_BUILD_NETWORK        `default` or `host`: network_mode for builds
#      TESTCONTAINERS_RYUK_DISABLED=true: testcontainers' reaper (Ryuk) is an
#        image pulled from Docker Hub, which cannot be reached here; with it
#        disabled the tests remove what they create themselves.
#
# Timings measured there: first run (apt-get install of docker.io,
# debootstrap, import, probe) 70-100 s, most of it debootstrap's downloads;
# second run (everything cached) about 1.5 s.
#
# Environment knobs (all optional):
#   ECS_LAB_BASE_SOURCE=auto|local|public   auto (default): an up-to-date local
#       image, else the public image if present or pullable, else build locally.
#   ECS_LAB_REBUILD_BASE=1       rebuild the local image (reuses the cached rootfs)
#   ECS_LAB_REBUILD_ROOTFS=1     debootstrap again
#   ECS_LAB_PULL_TIMEOUT=45      seconds allowed for `docker pull` of the public image
#   ECS_LAB_DOCKERD_TIMEOUT=60   seconds allowed for dockerd to answer
#   ECS_LAB_DOCKERD_ARGS         extra arguments for dockerd
#   DEBOOTSTRAP_MIRROR           Debian mirror (default: the host's apt mirror)
#
# Exit status: 0 when the engine answers and a base image is available,
# 1 otherwise (with a message on stderr).
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${ECS_LAB_CACHE_DIR:-$ROOT_DIR/.cache}/docker
PUBLIC_BASE=${ECS_LAB_PUBLIC_BASE_IMAGE:-python:3.11-slim}
LOCAL_BASE=${ECS_LAB_LOCAL_BASE_IMAGE:-ecs-lab/python-base:3.11-bookworm}
SUITE=bookworm
VARIANT=minbase
INCLUDE=python3,python3-venv,python-is-python3,ca-certificates
# Bump when the way the root fs is made changes (invalidates the cached tarball).
ROOTFS_REVISION=1
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
PROBE_URL_DEFAULT=https://pypi.org/simple/pip/

START_SECONDS=$SECONDS
log() { printf '[setup-docker] %s\n' "$*" >&2; }
die() { printf '[setup-docker] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
engine_answers() { docker info >/dev/null 2>&1; }

case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

mkdir -p "$CACHE_DIR"

# --------------------------------------------------------------------------
# 1. Engine
# --------------------------------------------------------------------------
need_package() {  # $1: command, $2: Debian package; echoes the package when the command is missing
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || echo "$2"
}

apt_install() {  # packages...
  [ $# -eq 0 ] && return 0
  is_root || die "missing: $*. Run this script as root (sudo bash scripts/setup-docker.sh) to install them."
  command -v apt-get >/dev/null 2>&1 || die "missing: $*, and apt-get is not available: install them by hand."
  log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # --no-install-recommends: the recommended apparmor/git/needrestart are not needed.
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

install_packages() {
  # The client may come from elsewhere (/usr/local/bin/docker here); docker.io brings one too.
  # shellcheck disable=SC2046
  apt_install $( { need_package dockerd docker.io; need_package docker docker.io;
                   need_package debootstrap debootstrap; need_package iptables iptables; } | sort -u)
}

# Docker's registry: `ecs-lab sandbox` runs it as the ECR of its local AWS account.
install_registry() {
  is_root || { command -v docker-registry >/dev/null 2>&1 \
               || log "docker-registry is missing (ecs-lab sandbox needs it): sudo apt-get install docker-registry"; return 0; }
  bash "$(dirname "$0")/ensure-package.sh" docker-registry docker-registry "ecs-lab sandbox uses it as ECR" 2>/dev/null \
    || log "docker-registry could not be installed (ecs-lab sandbox needs it)"
}

start_dockerd() {
  local dockerd_bin log_file pid waited=0 limit=${ECS_LAB_DOCKERD_TIMEOUT:-60}
  dockerd_bin=$(command -v dockerd || echo /usr/sbin/dockerd)
  log_file="$CACHE_DIR/dockerd.log"
  # A pid file left by a daemon of an earlier boot makes dockerd refuse to start when its pid
  # now belongs to another process: remove it when that pid is not a running dockerd.
  if [ -f /var/run/docker.pid ]; then
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -z "$pid" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != dockerd ]; then
      log "removing stale /var/run/docker.pid"
      rm -f /var/run/docker.pid
    fi
  fi
  log "starting $dockerd_bin in the background (log: $log_file)"
  # setsid + nohup: the daemon outlives this script (CI runs the tests after it).
  # shellcheck disable=SC2086
  nohup setsid "$dockerd_bin" ${ECS_LAB_DOCKERD_ARGS:-} >>"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$CACHE_DIR/dockerd.pid"
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log_file" >&2 || true
      die "dockerd exited during start-up (see $log_file)"
    fi
    if [ "$waited" -ge "$limit" ]; then
      tail -n 20 "$log_file" >&2 || true
      die "dockerd did not answer within ${limit}s (see $log_file)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "dockerd answers (pid $pid, after ${waited}s)"
}

if engine_answers; then
  log "a Docker engine already answers: leaving it as it is"
  # debootstrap is only needed if the local base image must be built; installed below on demand.
else
  if ! is_root && [[ "$(docker info 2>&1 || true)" == *"permission denied"* ]]; then
    die "a Docker engine runs but this user may not use it: add the user to the 'docker' group or run as root."
  fi
  is_root || die "no Docker engine answers ('docker info'). Run this script as root (sudo bash scripts/setup-docker.sh): it installs docker.io and starts dockerd."
  install_packages
  if ! engine_answers; then   # the package's postinst may have started it
    start_dockerd
  fi
fi
SERVER_VERSION=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
log "Docker engine $SERVER_VERSION"
install_registry

# --------------------------------------------------------------------------
# 2. Base image
# --------------------------------------------------------------------------
sha() { sha256sum | cut -c1-16; }

host_mirror() {
  if [ -n "${DEBOOTSTRAP_MIRROR:-}" ]; then echo "$DEBOOTSTRAP_MIRROR"; return; fi
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  case "$m" in http://*|https://*) echo "${m%/}" ;; *) echo http://deb.debian.org/debian ;; esac
}

# pip settings that a container can use: only http(s) indexes (no file:// paths).
pip_conf_text() {
  local key value out=""
  declare -A seen=()
  if command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1; then
    local pipcmd; pipcmd=$(command -v pip || command -v pip3)
    while IFS='=' read -r key value; do
      key=${key##*.}; value=${value#\'}; value=${value%\'}
      # Only what decides where packages come from: the image's key (and so its rebuild) must
      # not depend on incidental settings of the caller's environment (timeouts and the like).
      case "$key" in index-url|extra-index-url|trusted-host) ;; *) continue ;; esac
      [ -n "${seen[$key]:-}" ] && continue
      if [ "$key" = index-url ] || [ "$key" = extra-index-url ]; then
        local kept="" u
        for u in $value; do case "$u" in http://*|https://*) kept="$kept $u" ;; esac; done
        value=${kept# }
        [ -z "$value" ] && continue
      fi
      seen[$key]=1
      out+="$key = $value"$'\n'
    done < <("$pipcmd" config list 2>/dev/null | sed 's/^:env:/env/')
  fi
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n%s' "$out"
}

loopback_proxy() {
  local v
  for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy; do
    case "${!v:-}" in *://127.*|*://localhost*|*://\[::1\]*) return 0 ;; esac
  done
  return 1
}

# Lines for `docker import --change`, one per line.
image_changes() {
  local v
  echo 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  echo 'ENV LANG=C.UTF-8'
  echo 'ENV VIRTUAL_ENV=/opt/venv'
  echo 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1'
  for v in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE AWS_CA_BUNDLE; do
    echo "ENV $v=/etc/ssl/certs/ca-certificates.crt"
  done
  # A proxy on the host's loopback (ecs-lab sandbox's http_proxy) means nothing inside a container.
  if ! loopback_proxy; then
    for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
      [ -n "${!v:-}" ] && echo "ENV $v=${!v}"
    done
  fi
  echo 'CMD ["python3"]'
}

apt_conf_text() {
  if grep -rqsi 'Check-Valid-Until *"\?false' /etc/apt/apt.conf /etc/apt/apt.conf.d/ 2>/dev/null; then
    echo 'Acquire::Check-Valid-Until "false";'
    echo 'Acquire::Check-Date "false";'
  fi
}

MIRROR=$(host_mirror)
ROOTFS_KEY=$(printf '%s|%s|%s|%s|%s' "$ROOTFS_REVISION" "$SUITE" "$VARIANT" "$INCLUDE" "$MIRROR" | sha)
ROOTFS_TAR="$CACHE_DIR/rootfs-$SUITE-$VARIANT-$ROOTFS_KEY.tar"
PIP_CONF=$(pip_conf_text)
APT_CONF=$(apt_conf_text)
CHANGES=$(image_changes)
CA_SHA=$( { cat "$HOST_CA_BUNDLE" 2>/dev/null; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null; } | sha)
BASE_KEY=$(printf '%s|%s|%s|%s|%s' "$ROOTFS_KEY" "$CA_SHA" "$PIP_CONF" "$APT_CONF" "$CHANGES" | sha)

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
local_image_current() {
  image_exists "$LOCAL_BASE" &&
    [ "$(docker image inspect --format '{{ index .Config.Labels "ecs-lab.base-key" }}' "$LOCAL_BASE" 2>/dev/null)" = "$BASE_KEY" ]
}

build_rootfs_tarball() {
  is_root || die "building the local base image needs root (debootstrap). Run: sudo bash scripts/setup-docker.sh"
  # shellcheck disable=SC2046
  apt_install $(need_package debootstrap debootstrap)
  local dir="$CACHE_DIR/rootfs-build" started=$SECONDS
  rm -rf "$dir"
  log "debootstrap $SUITE ($VARIANT, $INCLUDE) from $MIRROR into $dir (log: $CACHE_DIR/debootstrap.log)"
  if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$dir" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$CACHE_DIR/debootstrap.log" >&2 || true
    rm -rf "$dir"
    die "debootstrap failed (see $CACHE_DIR/debootstrap.log)"
  fi
  # apt sources like the host's (updates + security), and no caches kept in layers.
  rm -f "$dir/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$MIRROR" "$SUITE" "$SUITE"
    case "$MIRROR" in */debian)
      printf '\nTypes: deb\nURIs: %s-security\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$MIRROR" "$SUITE" ;;
    esac
  } >"$dir/etc/apt/sources.list.d/debian.sources"
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
EOF
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  # A virtualenv first on PATH: `python`/`pip install` work as in python:3.11-slim.
  log "creating /opt/venv in the root fs"
  chroot "$dir" /usr/bin/python3 -m venv /opt/venv >&2
  chroot "$dir" /opt/venv/bin/python -c 'import ssl, sys, venv; print(sys.version)' >&2
  # Slim down: caches, docs, man pages, locales, logs.
  rm -rf "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* "$dir"/usr/share/man/* \
         "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/var/cache/debconf/*-old \
         "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/root/.cache
  find "$dir/usr/share/doc" -mindepth 1 -type f ! -name copyright -delete 2>/dev/null || true
  : >"$dir/etc/resolv.conf"; : >"$dir/etc/hostname"
  [ -f "$dir/etc/machine-id" ] && : >"$dir/etc/machine-id"
  tar --numeric-owner -C "$dir" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
      -cf "$ROOTFS_TAR.part" .
  mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
  rm -rf "$dir"
  log "root fs cached: $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1), debootstrap in $((SECONDS - started))s)"
}

build_local_image() {
  if [ ! -f "$ROOTFS_TAR" ] || [ "${ECS_LAB_REBUILD_ROOTFS:-0}" = 1 ]; then
    build_rootfs_tarball
  else
    log "reusing cached root fs $ROOTFS_TAR"
  fi
  is_root || die "building the local base image needs root. Run: sudo bash scripts/setup-docker.sh"
  local dir="$CACHE_DIR/image-build" line
  rm -rf "$dir"; mkdir -p "$dir"
  tar --numeric-owner -xpf "$ROOTFS_TAR" -C "$dir"
  [ -f "$HOST_CA_BUNDLE" ] || die "host CA bundle $HOST_CA_BUNDLE not found"
  cp "$HOST_CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  fi
  printf '%s\n' "$PIP_CONF" >"$dir/etc/pip.conf"
  if [ -n "$APT_CONF" ]; then printf '%s\n' "$APT_CONF" >"$dir/etc/apt/apt.conf.d/99ecs-lab-host"; fi
  local -a change_args=()
  while IFS= read -r line; do change_args+=(--change "$line"); done <<<"$CHANGES"
  change_args+=(--change "LABEL ecs-lab.base-key=$BASE_KEY")
  change_args+=(--change "LABEL org.opencontainers.image.description=\"Local stand-in for $PUBLIC_BASE (debootstrap $SUITE $VARIANT)\"")
  local previous
  previous=$(docker image inspect --format '{{.Id}}' "$LOCAL_BASE" 2>/dev/null || true)
  log "importing $LOCAL_BASE"
  tar --numeric-owner -C "$dir" -c . | docker import "${change_args[@]}" - "$LOCAL_BASE" >/dev/null
  rm -rf "$dir"
  # The previous version, now untagged, goes unless something still uses it (never forced).
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$LOCAL_BASE")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || log "previous base image ${previous:7:12} still in use: left in place"
  fi
}

try_public() {
  image_exists "$PUBLIC_BASE" && return 0
  log "trying docker pull $PUBLIC_BASE (at most ${ECS_LAB_PULL_TIMEOUT:-45}s)"
  if timeout "${ECS_LAB_PULL_TIMEOUT:-45}" docker pull -q "$PUBLIC_BASE" >/dev/null 2>"$CACHE_DIR/pull.err"; then
    return 0
  fi
  log "cannot pull $PUBLIC_BASE: $(tail -n 1 "$CACHE_DIR/pull.err" 2>/dev/null | cut -c1-160)"
  return 1
}

BASE_IMAGE=""
case "${ECS_LAB_BASE_SOURCE:-auto}" in
  public)
    try_public || die "the public image $PUBLIC_BASE cannot be had (ECS_LAB_BASE_SOURCE=public)"
    BASE_IMAGE=$PUBLIC_BASE ;;
  local|auto)
    if [ "${ECS_LAB_REBUILD_BASE:-0}" != 1 ] && local_image_current; then
      log "local base image $LOCAL_BASE is up to date: not rebuilt"
      BASE_IMAGE=$LOCAL_BASE
    elif [ "${ECS_LAB_BASE_SOURCE:-auto}" = auto ] && [ "${ECS_LAB_REBUILD_BASE:-0}" != 1 ] && try_public; then
      BASE_IMAGE=$PUBLIC_BASE
    else
      build_local_image
      BASE_IMAGE=$LOCAL_BASE
    fi ;;
  *) die "ECS_LAB_BASE_SOURCE must be auto, local or public" ;;
esac
log "base image: $BASE_IMAGE ($(docker image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"

# --------------------------------------------------------------------------
# 3. Which network can builds use to reach the package index?
# --------------------------------------------------------------------------
probe_url() {
  local u="${PIP_INDEX_URL:-}"
  [ -z "$u" ] && u=$(printf '%s\n' "$PIP_CONF" | awk -F' = ' '$1 == "index-url" {print $2; exit}')
  case "$u" in
    http://*|https://*) echo "${u%/}/pip/" ;;
    *) echo "$PROBE_URL_DEFAULT" ;;
  esac
}
probe_network() {  # $1: docker network ("bridge" or "host")
  local name="ecs-lab-netprobe-$$-$1" rc=0
  timeout 60 docker run --rm --name "$name" --network "$1" "$BASE_IMAGE" python -c '
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as r:
    r.read(1)
    print(r.status)
' "$PROBE_URL" >/dev/null 2>"$CACHE_DIR/netprobe-$1.err" || rc=$?
  docker rm -f "$name" >/dev/null 2>&1 || true
  return $rc
}
PROBE_URL=$(probe_url)
if probe_network bridge; then
  BUILD_NETWORK=default
  log "containers on the default bridge network reach $PROBE_URL: builds need no host network"
elif probe_network host; then
  BUILD_NETWORK=host
  log "containers reach $PROBE_URL only with the host network: builds must use network_mode=host (bridge error: $(tail -n 1 "$CACHE_DIR/netprobe-bridge.err" | cut -c1-160))"
else
  BUILD_NETWORK=default
  log "WARNING: no container reaches $PROBE_URL (bridge: $(tail -n 1 "$CACHE_DIR/netprobe-bridge.err" | cut -c1-120); host: $(tail -n 1 "$CACHE_DIR/netprobe-host.err" | cut -c1-120)); builds that pip install will fail"
fi

# --------------------------------------------------------------------------
# 4. Settings for the builds and tests
# --------------------------------------------------------------------------
ENV_FILE="$CACHE_DIR/base-image.env"
cat >"$ENV_FILE" <<EOF
ECS_LAB_BASE_IMAGE=$BASE_IMAGE
ECS_LAB_BUILD_NETWORK=$BUILD_NETWORK
TESTCONTAINERS_RYUK_DISABLED=true
EOF
log "settings written to $ENV_FILE; done in $((SECONDS - START_SECONDS))s"
sed 's/^/export /' "$ENV_FILE"
