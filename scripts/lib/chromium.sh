# shellcheck shell=bash
# Makes sure Debian's chromium and chromium-driver are on this machine, for the hosted cashier's
# browser test (services/ingest/tests/cashier_browser.rs, driven by fantoccini through
# chromedriver). Sourced by scripts/test. As root with apt they are installed from Debian's
# packages (idempotent: nothing is done when both are there); otherwise it says how to get them,
# and the browser test fails under CI (CI=true) or skips loudly elsewhere.

say_chromium() { printf '[chromium] %s\n' "$*" >&2; }

ensure_chromium() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say_chromium "installing Debian's chromium and chromium-driver for the cashier's browser test"
        if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >&2 && APT_UPDATED=1; fi
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver fonts-noto-cjk >&2 &&
            command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
            return 0
        fi
        say_chromium "installing chromium and chromium-driver failed"
        return 1
    fi
    say_chromium "chromium or chromedriver is missing: install Debian's chromium and chromium-driver"
    say_chromium "(apt-get install chromium chromium-driver); the cashier's browser test needs them"
    return 1
}
