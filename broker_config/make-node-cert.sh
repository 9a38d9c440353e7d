#!/usr/bin/env bash
# Create a node's client certificate: CN = node id = MQTT username.
#
#   make-node-cert.sh PKI_DIR NODE_ID [--renew]
#
# Writes PKI_DIR/nodes/NODE_ID/ with ca.crt, NODE_ID.crt and NODE_ID.key (mode
# 600): copy that directory to the node as /etc/kazoe/ and set
#   [mqtt] port = 8883, tls = { ca_file = ..., cert_file = ..., key_file = ... }.
# An existing certificate is kept unless --renew is given; the old one stays
# valid until it expires (revoke-cert.sh revokes every certificate of a name).
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -ge 2 ]] || usage_error "usage: make-node-cert.sh PKI_DIR NODE_ID [--renew]"
pki=$1
node_id=$2
renew=${3:-}
[[ -z "$renew" || "$renew" == --renew ]] || usage_error "unknown option $renew"
check_node_id "$node_id"
need_tool openssl openssl
require_ca "$pki"

out="$pki/nodes/$node_id"
if [[ -s "$out/$node_id.crt" && -z "$renew" ]]; then
    die "$out/$node_id.crt exists; pass --renew to issue a new one"
fi
mkdir -p "$out"
chmod 700 "$out"
new_key "$out/$node_id.key.tmp"
issue_cert "$pki" "$node_id" client "$out/$node_id.key.tmp" "$out/$node_id.crt"
mv -f "$out/$node_id.key.tmp" "$out/$node_id.key"
cp "$pki/ca/ca.crt" "$out/ca.crt"
echo "wrote $out/$node_id.crt and $node_id.key (CN=$node_id); copy $out/ to the node as /etc/kazoe/"
