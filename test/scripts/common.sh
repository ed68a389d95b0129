# Shared by the test, demo and bench scripts: where PostgreSQL is, who runs it,
# and how to start and stop a private cluster.
# PostgreSQL refuses to run as root, so as root the server runs as a dedicated
# OS user (kyrodb); as anyone else it runs as that user.

PG_BIN=/usr/lib/postgresql/15/bin
PG_PERL=/usr/lib/postgresql/15/lib/pgxs/src/test/perl
PG_OS_USER=kyrodb

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# The OS user that owns clusters, created on first use when we are root.
pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if ! id "$PG_OS_USER" >/dev/null 2>&1; then
            useradd --system --user-group --create-home --home-dir /var/lib/$PG_OS_USER \
                --shell /bin/sh "$PG_OS_USER"
        fi
        echo "$PG_OS_USER"
    else
        id -un
    fi
}

# Run a command as the cluster owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# cluster_init DATADIR SOCKETDIR PORT [EXTRA_CONF]: a new cluster with kyrodb
# preloaded, reachable only through a Unix socket in SOCKETDIR. EXTRA_CONF
# lines are appended to postgresql.conf (later settings win).
cluster_init() {
    local data=$1 sock=$2 port=$3 extra=${4:-} owner
    owner=$(pg_owner)
    mkdir -p "$data" "$sock"
    [ "$(id -u)" -eq 0 ] && chown "$owner" "$data" "$sock"
    chmod 700 "$data"
    as_owner "$PG_BIN/initdb" -D "$data" -U "$owner" --no-locale --encoding=UTF8 \
        --auth=trust >"$data.initdb.log" 2>&1 || { cat "$data.initdb.log"; return 1; }
    cat >>"$data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$sock'
shared_preload_libraries = 'kyrodb'
fsync = off
max_connections = 50
shared_buffers = 512MB
maintenance_work_mem = 1GB
$extra
CONF
}

# SERVER_ENV: extra environment for the server (VAR=value ...), e.g. the
# sanitizer runtime of make test SANITIZE=1.
cluster_start() {
    local data=$1 log=$2
    as_owner env ${SERVER_ENV:-} "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 120 start >/dev/null ||
        { cat "$log"; return 1; }
}

cluster_stop() {
    local data=$1
    as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}
