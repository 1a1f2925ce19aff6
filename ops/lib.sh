# Shared helpers for ops/pg, ops/run and ops/test. Source it; do not run it.
# shellcheck shell=bash

# Repository root (the folder holding Xapi.Cqrs.sln), whatever the caller's working directory.
XAPI_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export XAPI_REPO

# Quiet, deterministic dotnet in scripts and CI.
export DOTNET_NOLOGO=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export MSBUILDDISABLENODEREUSE=1

say() { printf '%s\n' "[$(basename "$0")] $*"; }
warn() { printf '%s\n' "[$(basename "$0")] $*" >&2; }
die() { printf '%s\n' "[$(basename "$0")] error: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

require_dotnet() {
    command -v dotnet >/dev/null 2>&1 ||
        die "'dotnet' is not on PATH. Install the .NET SDK 10.0.401 (see global.json), then retry."
}

# A machine that restored before the registry served the real Patched.DistributedLock.Core 1.0.11 may
# still hold the old file-less redirect copy (same id and version) in its NuGet cache, which NuGet keeps
# using; with it the projection daemon's HotCold mode fails at run time (TypeLoadException). Drop it, so
# the next restore fetches the real package.
purge_redirect_package() {
    local root dir
    root=$(dotnet nuget locals global-packages --list 2>/dev/null | sed -n 's/^global-packages: //p')
    dir="${root%/}/patched.distributedlock.core/1.0.11"
    if [ -n "$root" ] && [ -d "$dir" ] && [ ! -d "$dir/lib" ]; then
        say "removing the old redirect copy of Patched.DistributedLock.Core 1.0.11 from the NuGet cache ($dir)"
        rm -rf "$dir"
    fi
}

# python3 is used for free-port lookup and .trx parsing; Debian CI images may lack it.
require_python3() {
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import xml.etree.ElementTree' 2>/dev/null; then
        return 0
    fi
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "python3 missing: installing it with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 >/dev/null
        return 0
    fi
    die "python3 (with xml.etree) is required; install it: apt-get install python3"
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local p _
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port found on 127.0.0.1"
}

# The qemu backend and its tests need qemu-system-x86_64, qemu-img and cpio: installed with apt-get (as root) when missing.
ensure_qemu_installed() {
    if command -v qemu-system-x86_64 >/dev/null 2>&1 && command -v qemu-img >/dev/null 2>&1 && command -v cpio >/dev/null 2>&1; then
        return 0
    fi
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "QEMU missing: installing qemu-system-x86, qemu-utils and cpio with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils cpio >/dev/null
        return 0
    fi
    die "QEMU is required for the qemu tests; as root run: apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils cpio"
}

# The console's browser tests drive Debian's chromium (never a browser Playwright downloads); install it as root if missing.
require_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "chromium missing: installing Debian's chromium and fonts-dejavu-core with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
        return 0
    fi
    die "/usr/bin/chromium is required by the browser tests; as root run: apt-get install -y --no-install-recommends chromium fonts-dejavu-core"
}

# open_event_store PG_DIR PG_PORT: sets CS to the event store's connection string: ConnectionStrings__EventStore when
# set (no cluster is started), else the private cluster in PG_DIR on PG_PORT, started if needed (STOP_PG=1 then, so the
# caller stops it when done).
# shellcheck disable=SC2034  # CS and STOP_PG are the caller's
open_event_store() {
    local pg_dir=$1 pg_port=$2
    if [ -n "${ConnectionStrings__EventStore:-}" ]; then
        CS=$ConnectionStrings__EventStore
        say "using the database in ConnectionStrings__EventStore; no private cluster"
        return 0
    fi
    if ! "$XAPI_REPO/ops/pg" status "$pg_dir" >/dev/null; then
        STOP_PG=1
    fi
    "$XAPI_REPO/ops/pg" start "$pg_dir" "$pg_port"
    CS=$("$XAPI_REPO/ops/pg" url "$pg_dir" "$pg_port")
}

# stop_group NAME PID...: SIGTERM to each process group (each started with setsid), then up to 30 s for all of them to
# end, then SIGKILL for any still running. NAME is for the warning; the caller says what it stops.
stop_group() {
    local name=$1 pid _
    shift
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null && { kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; }
    done
    for pid in "$@"; do
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) did not stop within 30 s: killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}
