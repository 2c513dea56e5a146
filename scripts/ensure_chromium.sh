#!/usr/bin/env bash
# Make sure Debian's Chromium and its chromedriver are installed for the browser test
# (tests/browser/). Run by `make test`. Never fails the build: when the browser cannot be installed
# (not root, no apt, no network) it says so and exits 0, and the browser test skips with a message.
set -u

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    exit 0
fi

skip() {
    echo "ensure_chromium: $1" >&2
    echo "ensure_chromium: the real-browser test (tests/browser/) will be skipped." >&2
    echo "ensure_chromium: to run it, install as root: apt-get install -y chromium chromium-driver" >&2
    exit 0
}

if [ "$(id -u)" -ne 0 ]; then
    skip "Chromium or chromedriver is missing and this is not root, so they cannot be installed."
fi
if ! command -v apt-get >/dev/null 2>&1; then
    skip "Chromium or chromedriver is missing and apt-get is not available."
fi

echo "ensure_chromium: installing chromium and chromium-driver from the Debian packages…"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
    skip "apt-get update failed."
fi
if ! apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    skip "apt-get install chromium chromium-driver failed."
fi
if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "ensure_chromium: $("$CHROMIUM" --version 2>/dev/null || echo chromium) installed."
else
    skip "the packages installed but $CHROMIUM or $DRIVER is still missing."
fi
exit 0
