#!/usr/bin/env bash
# A real Docker-Engine-compatible API (podman's `system service`) for tests, with one
# container running busybox httpd on 127.0.0.1:PORT. Everything lives under DIR.
#
#   tools/podman-docker-api.sh start DIR PORT NAME
#       DIR: an existing directory made by the caller (fresh; absolute or relative, no
#       whitespace; its absolute path at most 46 characters, as podman refuses a run root,
#       DIR/run, longer than 50). All podman state (store, run root, tmp dir, file locks,
#       events log), its config, the image tar, the API socket and the logs live under it,
#       so several fixtures can run at once, each with its own DIR, and the machine's
#       default podman store is never touched.
#       Imports a busybox image, starts the API service in the background (pid in
#       DIR/service.pid, log in DIR/service.log), runs container NAME
#       (`/bin/httpd -f -p 127.0.0.1:PORT -h /www`, host network, catatonit as init so a
#       stop's SIGTERM ends it at once), waits (at most 30 s) until the socket answers
#       /_ping and http://127.0.0.1:PORT/ answers, then prints exactly one line
#           DOCKER_HOST=unix://DIR/podman.sock
#       on stdout and exits 0. On failure it prints the step and its output tail on stderr,
#       undoes what it started (like `stop`, keeping the logs) and exits non-zero:
#           2 usage, 3 something not installed, 4 PORT already in use (pick another and
#           retry), 1 anything else.
#   tools/podman-docker-api.sh stop DIR
#       Removes every container of DIR's store (podman rm -f), kills the API service,
#       kills any leftover process of DIR (conmon, runc containers whose bundle is under
#       DIR), unmounts whatever is mounted under DIR. Exits 0 even if start got only part
#       way (or never ran). Leaves DIR and its logs in place; the caller removes DIR.
#
# Debian packages: podman runc busybox-static (and curl, used here for the checks).
# Nothing uses the machine's defaults except runc's state dir (/run/runc/<container id>,
# removed with each container), containers/image's blob-info cache
# (/var/lib/containers/cache, written by `podman import`) and an empty
# /run/containers/networks that podman makes.
set -euo pipefail

IMAGE=localhost/cpra-busybox:latest
READY_TIMEOUT=30 # seconds, waiting for /_ping and the HTTP port
STEP_TIMEOUT=60  # seconds, bound on each podman command
INSTALL_HINT="apt-get install -y podman runc busybox-static"
SELF=podman-docker-api

usage() {
    echo "usage: $0 start DIR PORT NAME | stop DIR" >&2
    exit 2
}

log() { echo "$SELF: $*" >&2; }

# Absolute path of an existing directory.
abs_dir() {
    [ -d "$1" ] || { log "DIR $1 does not exist (the caller makes it)"; exit 2; }
    (cd "$1" && pwd -P)
}

now_ms() { date +%s%3N; }

# Every podman command uses this: DIR's config, store, run root and tmp dir, nothing else.
# Sets the arrays PM_ENV and PM_ARGS (also used to start the service in the background).
setup_podman() {
    PM_ENV=(env -u CONTAINER_HOST -u CONTAINER_CONNECTION -u CONTAINERS_REGISTRIES_CONF
        "CONTAINERS_CONF=$DIR/containers.conf"
        "CONTAINERS_STORAGE_CONF=$DIR/storage.conf"
        "TMPDIR=$DIR/scratch")
    PM_ARGS=(podman
        --root "$DIR/root"
        --runroot "$DIR/run"
        --tmpdir "$DIR/tmp"
        --storage-driver vfs
        --cgroup-manager cgroupfs
        --runtime runc
        --events-backend file)
}

pm() { "${PM_ENV[@]}" "${PM_ARGS[@]}" "$@"; }

# Writes DIR's containers.conf and storage.conf. crun fails on this machine kind (rlimits,
# hybrid cgroups), hence runc, cgroupfs and no default ulimits. vfs (not overlay): nothing
# stays mounted but each container's shm, and it works on any file system. File locks
# (in DIR/tmp/locks), not the shared /dev/shm/libpod_lock: fixtures with separate stores
# would otherwise hand out the same lock numbers.
write_config() {
    mkdir -p "$DIR/root" "$DIR/run" "$DIR/tmp" "$DIR/scratch" "$DIR/networks"
    cat >"$DIR/containers.conf" <<EOF
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
lock_type = "file"
tmp_dir = "$DIR/tmp"
image_copy_tmp_dir = "$DIR/scratch"

[network]
network_config_dir = "$DIR/networks"
EOF
    cat >"$DIR/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$DIR/root"
runroot = "$DIR/run"
EOF
}

# Last lines of a file, indented, for error messages.
tail_of() {
    if [ -s "$1" ]; then
        echo "--- last lines of $1:"
        tail -n "${2:-20}" "$1" | sed 's/^/    /'
    else
        echo "--- $1: empty or missing"
    fi
}

# fail STEP [LOGFILE...]: report, undo, exit 1 (or $FAIL_CODE).
fail() {
    local step=$1
    shift
    {
        echo "$SELF: start failed: $step"
        local f
        for f in "$@"; do tail_of "$f"; done
    } >&2
    do_stop >/dev/null 2>&1 || true
    exit "${FAIL_CODE:-1}"
}

# Runs a podman command bounded by STEP_TIMEOUT, output to DIR/LOGNAME.log; fails on error.
pm_step() {
    local what=$1 logname=$2
    shift 2
    if ! timeout -k 5 "$STEP_TIMEOUT" "${PM_ENV[@]}" "${PM_ARGS[@]}" "$@" \
        >"$DIR/$logname.log" 2>&1 </dev/null 9>&-; then
        fail "$what (podman $*)" "$DIR/$logname.log"
    fi
}

check_installed() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
    if [ ${#missing[@]} -gt 0 ]; then
        log "podman not installed ($INSTALL_HINT) [missing: ${missing[*]}]"
        exit 3
    fi
    BUSYBOX=
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        # Must be the static one (busybox-static): the image has no libc.
        if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
    done
    if [ -z "$BUSYBOX" ]; then
        log "podman not installed ($INSTALL_HINT) [no static /bin/busybox]"
        exit 3
    fi
    if ! command -v curl >/dev/null 2>&1; then
        log "curl not installed (apt-get install -y curl)"
        exit 3
    fi
}

# A tar with /bin/busybox, sh/sleep/httpd -> busybox and /www/index.html, imported as IMAGE.
build_image() {
    if pm image exists "$IMAGE" >/dev/null 2>&1; then return 0; fi
    local rootfs=$DIR/image/rootfs
    rm -rf "$DIR/image"
    mkdir -p "$rootfs/bin" "$rootfs/www" "$rootfs/tmp"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    local l
    for l in sh sleep httpd; do ln -s busybox "$rootfs/bin/$l"; done
    printf 'cpra podman fixture\n' >"$rootfs/www/index.html"
    tar -C "$rootfs" --owner=0 --group=0 --numeric-owner -cf "$DIR/image/busybox.tar" . \
        || fail "making the image tar $DIR/image/busybox.tar"
    pm_step "importing the image" import import "$DIR/image/busybox.tar" "$IMAGE"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive_pid() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Is PID a podman or conmon process of this DIR (guards against pid reuse; never matches a
# shell that merely mentions DIR)?
pid_of_dir() {
    local comm
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    case $comm in podman | conmon) ;; *) return 1 ;; esac
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

do_start() {
    [ $# -eq 3 ] || usage
    DIR=$(abs_dir "$1")
    PORT=$2
    NAME=$3
    case $DIR in *[[:space:]]*) log "DIR must not contain whitespace: $DIR"; exit 2 ;; esac
    [[ $PORT =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] \
        || { log "PORT must be 1..65535, got '$PORT'"; exit 2; }
    [[ $NAME =~ ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$ ]] \
        || { log "NAME must match [a-zA-Z0-9][a-zA-Z0-9_.-]*, got '$NAME'"; exit 2; }
    # podman refuses a run root longer than 50 characters ("the specified runroot is longer
    # than 50 characters"); the run root is DIR/run.
    [ $((${#DIR} + 4)) -le 50 ] \
        || { log "DIR too long: podman wants its run root (DIR/run) at most 50 characters, so DIR at most 46; got ${#DIR}: $DIR"; exit 2; }
    SOCK=$DIR/podman.sock
    check_installed

    local t0 t1
    t0=$(now_ms)
    exec 9>>"$DIR/start.log"
    echo "start $(date -Is) DIR=$DIR PORT=$PORT NAME=$NAME" >&9

    if alive_pid "$(cat "$DIR/service.pid" 2>/dev/null || true)"; then
        log "DIR $DIR already has a running service (pid $(cat "$DIR/service.pid")); stop it first"
        exit 1
    fi
    if port_in_use "$PORT"; then
        log "start failed: port $PORT on 127.0.0.1 already in use"
        exit 4
    fi

    write_config
    setup_podman

    # The API service, in its own session, detached from our stdout/stderr.
    rm -f "$SOCK"
    setsid "${PM_ENV[@]}" "${PM_ARGS[@]}" system service --time=0 "unix://$SOCK" \
        >"$DIR/service.log" 2>&1 </dev/null 9>&- &
    local spid=$!
    echo "$spid" >"$DIR/service.pid"
    echo "service pid $spid" >&9

    build_image
    t1=$(now_ms); echo "image ready after $((t1 - t0)) ms" >&9

    local init=()
    [ -x /usr/libexec/podman/catatonit ] && init=(--init)
    pm rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    pm_step "running container $NAME" run \
        run -d --pull=never "${init[@]}" --network host --name "$NAME" "$IMAGE" \
        /bin/httpd -f -p "127.0.0.1:$PORT" -h /www
    t1=$(now_ms); echo "container started after $((t1 - t0)) ms" >&9

    local deadline=$((SECONDS + READY_TIMEOUT)) ping_ok=0 http_ok=0
    while :; do
        if ! alive_pid "$spid"; then
            fail "the API service (pid $spid) exited" "$DIR/service.log"
        fi
        if [ $ping_ok = 0 ] && [ -S "$SOCK" ] &&
            [ "$(curl -sS --max-time 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null || true)" = OK ]; then
            ping_ok=1
            t1=$(now_ms); echo "/_ping OK after $((t1 - t0)) ms" >&9
        fi
        if [ $http_ok = 0 ]; then
            if curl -sS --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
                http_ok=1
                t1=$(now_ms); echo "http OK after $((t1 - t0)) ms" >&9
            else
                local running
                running=$(pm inspect --format '{{.State.Running}}' "$NAME" 2>&1 || true)
                if [ "$running" != true ]; then
                    pm logs "$NAME" >"$DIR/container.log" 2>&1 || true
                    if grep -qi 'address already in use' "$DIR/container.log"; then
                        FAIL_CODE=4 fail "container $NAME exited: port $PORT already in use" "$DIR/container.log"
                    fi
                    fail "container $NAME is not running (State.Running: $running)" "$DIR/container.log"
                fi
            fi
        fi
        [ $ping_ok = 1 ] && [ $http_ok = 1 ] && break
        if [ $SECONDS -ge $deadline ]; then
            pm logs "$NAME" >"$DIR/container.log" 2>&1 || true
            fail "not ready within ${READY_TIMEOUT}s (/_ping ok: $ping_ok, http://127.0.0.1:$PORT/ ok: $http_ok)" \
                "$DIR/service.log" "$DIR/container.log"
        fi
        sleep 0.1
    done
    t1=$(now_ms); echo "ready after $((t1 - t0)) ms" >&9
    echo "DOCKER_HOST=unix://$SOCK"
}

do_stop() {
    local f
    # Store first, while the service still runs: stops and removes the containers.
    if [ -f "$DIR/containers.conf" ] && [ -f "$DIR/storage.conf" ] && command -v podman >/dev/null 2>&1; then
        setup_podman
        timeout -k 5 "$STEP_TIMEOUT" "${PM_ENV[@]}" "${PM_ARGS[@]}" rm -f -a -t 0 \
            >>"$DIR/stop.log" 2>&1 </dev/null || echo "podman rm -f -a failed: $?" >>"$DIR/stop.log"
    fi

    # The API service.
    local spid
    spid=$(cat "$DIR/service.pid" 2>/dev/null || true)
    if [[ $spid =~ ^[0-9]+$ ]] && alive_pid "$spid" && pid_of_dir "$spid"; then
        kill -TERM "$spid" 2>/dev/null || true
        local i
        for i in $(seq 50); do alive_pid "$spid" && pid_of_dir "$spid" || break; sleep 0.1; done
        if alive_pid "$spid" && pid_of_dir "$spid"; then kill -KILL "$spid" 2>/dev/null || true; fi
    fi
    rm -f "$DIR/service.pid" "$DIR/podman.sock"

    # Containers that podman could not remove: runc state whose bundle is under DIR.
    if command -v runc >/dev/null 2>&1 && [ -d /run/runc ]; then
        local st id
        for st in /run/runc/*/state.json; do
            [ -f "$st" ] || continue
            grep -qF -- "$DIR/" "$st" 2>/dev/null || continue
            id=$(basename "$(dirname "$st")")
            runc kill "$id" KILL >/dev/null 2>&1 || true
            runc delete -f "$id" >/dev/null 2>&1 || true
        done
    fi

    # Any other process of DIR (conmon, podman cleanup).
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        pid_of_dir "$p" && kill -KILL "$p" 2>/dev/null || true
    done

    # Mounts under DIR (each container's shm; overlay if someone changed the driver), deepest first.
    local m
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$DIR/" 'index($2, d) == 1 { print length($2) " " $2 }' /proc/self/mounts \
        | sort -rn | cut -d' ' -f2-)
    return 0
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
    start) do_start "$@" ;;
    stop)
        [ $# -eq 1 ] || usage
        if [ ! -d "$1" ]; then exit 0; fi
        DIR=$(cd "$1" && pwd -P)
        do_stop || true
        exit 0
        ;;
    *) usage ;;
esac
