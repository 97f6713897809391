# shellcheck shell=bash
# Makes sure promtool (Prometheus's rule checker) is on this machine, for the alert rules' tests
# (tests/e2e/tests/alerts.rs: `promtool check rules`, `promtool test rules`). Sourced by
# scripts/test. promtool comes with Debian's `prometheus` package: as root with apt it is
# installed from there (without starting a Prometheus server); otherwise it says how to get it,
# and the alerts test fails under CI (CI=true) or skips loudly elsewhere.

say_promtool() { printf '[promtool] %s\n' "$*" >&2; }

ensure_promtool() {
    if command -v promtool >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say_promtool "installing Debian's prometheus package for promtool"
        if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2 && APT_UPDATED=1; fi
        # The package also installs a Prometheus server; policy-rc.d keeps it from being started.
        local policy=/usr/sbin/policy-rc.d placed=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
        local status=$?
        if ((placed)); then rm -f "$policy"; fi
        if ((status == 0)) && command -v promtool >/dev/null 2>&1; then
            return 0
        fi
        say_promtool "installing the prometheus package failed"
        return 1
    fi
    say_promtool "promtool is missing: install Debian's prometheus package (apt-get install prometheus),"
    say_promtool "or put a promtool from a Prometheus release on PATH; the alerts test needs it"
    return 1
}
