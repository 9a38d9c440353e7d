#!/usr/bin/env bash
# Create the broker's TLS certificate, signed by the deployment CA.
#
#   make-broker-cert.sh PKI_DIR NAME_OR_IP [NAME_OR_IP...]
#
# Every name and address clients use to reach the broker goes into the
# certificate (subjectAltName); clients check it, so connecting by a name not
# listed fails. The first one is also the CN. Writes PKI_DIR/broker/broker.crt
# and broker.key (mode 600: give it to group mosquitto, mode 640, on the broker).
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -ge 2 ]] || usage_error "usage: make-broker-cert.sh PKI_DIR NAME_OR_IP [NAME_OR_IP...]"
pki=$1
shift
need_tool openssl openssl
require_ca "$pki"

san=""
for host in "$@"; do
    if [[ "$host" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || "$host" == *:* ]]; then
        entry="IP:$host"
    elif [[ "$host" =~ ^[A-Za-z0-9*]([A-Za-z0-9.-]{0,252})$ ]]; then
        entry="DNS:$host"
    else
        usage_error "'$host' is neither a host name nor an IP address"
    fi
    san=${san:+$san, }$entry
done

new_key "$pki/broker/broker.key.tmp"
mv -f "$pki/broker/broker.key.tmp" "$pki/broker/broker.key"
issue_cert "$pki" "$1" server "$pki/broker/broker.key" "$pki/broker/broker.crt" "$san"
echo "wrote $pki/broker/broker.crt for $san"
