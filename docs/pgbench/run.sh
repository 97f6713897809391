#!/usr/bin/env bash
# What one payment's statements cost PostgreSQL, one message at a time and in batches
# (docs/benchmarks.md, "Batches"). Creates the database `pgbench_paygate` with paygate's schema,
# runs each script for 10 s with 4 clients (commits without waiting for the WAL flush, so that
# the figures are CPU, not the disk), and prints payments per second.
#
# one_by_one.sql and ten_per_statement.sql are a payment's work (ingest's transaction, then the
# dispatcher's); the ingest_* scripts are derived from them here: ingest's transaction alone (up
# to the first COMMIT), and ten commands sharing one transaction with a statement each.
set -euo pipefail
cd "$(dirname "$0")"
PG="psql -h 127.0.0.1 -U postgres -q"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed '/^COMMIT;/q' one_by_one.sql >"$work/ingest_one_by_one.sql"
sed '/^COMMIT;/q' ten_per_statement.sql >"$work/ingest_ten_per_statement.sql"
{
    grep '^\\set' one_by_one.sql
    echo 'BEGIN;'
    body=$(sed -n '/^BEGIN;/,/^COMMIT;/p' one_by_one.sql | sed '1d;$d' | sed '/^COMMIT;/,$d')
    for _ in $(seq 10); do printf '%s\n' "$body"; done
    echo 'COMMIT;'
} >"$work/ingest_ten_per_transaction.sql"
cp one_by_one.sql ten_per_statement.sql "$work/"

$PG -c "DROP DATABASE IF EXISTS pgbench_paygate" -c "CREATE DATABASE pgbench_paygate" 2>/dev/null
for m in ../../shared/migrations/*.sql; do $PG -d pgbench_paygate -f "$m" >/dev/null; done
for script in one_by_one ten_per_statement ingest_one_by_one ingest_ten_per_transaction ingest_ten_per_statement; do
    per=1
    [[ $script == *ten* ]] && per=10
    tps=$(PGOPTIONS="-c synchronous_commit=off" pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 4 -T 10 \
        -f "$work/$script.sql" pgbench_paygate 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
    echo "$script: $(awk -v t="$tps" -v p="$per" 'BEGIN { printf "%.0f", t * p }') payments/s"
done
$PG -c "DROP DATABASE pgbench_paygate"
