#!/usr/bin/env bash
# Make sure a Mosquitto broker binary is available (used by `make run` and
# `make test`). Tests start their own broker on a free port; a system service
# that Debian's package may start is never used.
set -euo pipefail

if command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing mosquitto with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients
    exit 0
fi

echo "mosquitto is not installed: run 'sudo apt-get install mosquitto' and try again" >&2
exit 1
