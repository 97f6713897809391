# shellcheck shell=bash
# Makes sure PostgreSQL and RabbitMQ run on this machine, with the RabbitMQ plugins paygate needs.
# Sourced by scripts/up and scripts/test. Order of preference:
#   1. servers already answering on 127.0.0.1:5432 and :5672 are used as they are;
#   2. installed but stopped servers are started;
#   3. as root with apt: install them from Debian's packages, then start them;
#   4. with a Docker engine: docker compose -f deploy/compose.yaml up -d postgres rabbitmq.
# Local development only: PostgreSQL is set to trust connections from 127.0.0.1.

PG_HOST=127.0.0.1 PG_PORT=5432 MQ_HOST=127.0.0.1 MQ_PORT=5672 MQ_MGMT_PORT=15672
RABBITMQ_PLUGINS="rabbitmq_consistent_hash_exchange rabbitmq_management rabbitmq_prometheus"

say() { printf '[servers] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for NAME HOST PORT SECONDS
wait_for() {
    local deadline=$((SECONDS + $4))
    until port_open "$2" "$3"; do
        if ((SECONDS >= deadline)); then say "$1 did not open $2:$3 within $4 s"; return 1; fi
        sleep 1
    done
}

have_docker_engine() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    is_root && command -v apt-get >/dev/null 2>&1 || return 1
    say "installing $* from Debian's packages"
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2 && APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

start_postgres() {
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql || return 1; fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ -w "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        say "letting local connections from 127.0.0.1 in without a password (development only)"
        sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 ||
        pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2 2>&1 || true
    wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 60
}

start_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null 2>&1; then apt_install rabbitmq-server || return 1; fi
    say "starting RabbitMQ"
    rabbitmq-server -detached >&2 2>&1 || true
    rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
    wait_for RabbitMQ "$MQ_HOST" "$MQ_PORT" 120
}

enable_rabbitmq_plugins() {
    if command -v rabbitmq-plugins >/dev/null 2>&1 && is_root; then
        # shellcheck disable=SC2086
        rabbitmq-plugins enable $RABBITMQ_PLUGINS >/dev/null 2>&1 ||
            say "could not enable the RabbitMQ plugins ($RABBITMQ_PLUGINS)"
    fi
    wait_for "RabbitMQ management" "$MQ_HOST" "$MQ_MGMT_PORT" 60
}

ensure_servers() {
    local pg_up=0 mq_up=0
    port_open "$PG_HOST" "$PG_PORT" && pg_up=1
    port_open "$MQ_HOST" "$MQ_PORT" && mq_up=1
    if ((pg_up == 0 || mq_up == 0)); then
        if is_root && { command -v apt-get >/dev/null 2>&1 || command -v pg_ctlcluster >/dev/null 2>&1; }; then
            ((pg_up)) || start_postgres || return 1
            ((mq_up)) || start_rabbitmq || return 1
        elif have_docker_engine; then
            say "starting PostgreSQL and RabbitMQ with docker compose"
            docker compose -f "$ROOT/deploy/compose.yaml" up -d --wait postgres rabbitmq >&2 || return 1
            wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 60 && wait_for RabbitMQ "$MQ_HOST" "$MQ_PORT" 120 || return 1
        else
            say "PostgreSQL (127.0.0.1:5432) or RabbitMQ (127.0.0.1:5672) is not running, and this"
            say "machine has neither root with apt nor a Docker engine to start them. Start them yourself"
            say "(see README.md, 'Servers'), then run this again."
            return 1
        fi
    fi
    enable_rabbitmq_plugins || return 1
    say "PostgreSQL on $PG_HOST:$PG_PORT and RabbitMQ on $MQ_HOST:$MQ_PORT are up"
}
