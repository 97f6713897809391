# shellcheck shell=bash
# Installs the deployment checkers pinned in deploy/check-tools.txt into a virtualenv at
# target/deploy-tools (once; again when the pins change), for tests/e2e/tests/deploy.rs.
# Sourced by scripts/test.

ensure_deploy_tools() {
    local root venv stamp
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    venv="$root/target/deploy-tools"
    stamp="$venv/.pins"
    if [ -x "$venv/bin/check-jsonschema" ] && [ -x "$venv/bin/kubernetes-validate" ] \
        && cmp -s "$root/deploy/check-tools.txt" "$stamp"; then
        return 0
    fi
    printf '[deploy-tools] installing %s into %s\n' "deploy/check-tools.txt" "$venv" >&2
    python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/deploy/check-tools.txt" >&2 || return 1
    cp "$root/deploy/check-tools.txt" "$stamp"
}
