#!/usr/bin/env bash
# Give a node a password instead of a client certificate (sites whose nodes
# cannot hold a certificate). It connects with TLS to port 8884.
#
#   make-node-password.sh PKI_DIR NODE_ID
#
# Adds NODE_ID to PKI_DIR/broker/passwd (hashed) and writes PKI_DIR/nodes/NODE_ID/
# with ca.crt and NODE_ID.password (mode 600): copy it to the node as /etc/kazoe/
# and set [mqtt] port = 8884, password_file = ..., tls = { ca_file = ... }.
# Re-running keeps an existing password (and re-installs it in broker/passwd).
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -eq 2 ]] || usage_error "usage: make-node-password.sh PKI_DIR NODE_ID"
pki=$1
node_id=$2
check_node_id "$node_id"
need_tool openssl openssl
require_ca "$pki"

out="$pki/nodes/$node_id"
mkdir -p "$out"
chmod 700 "$out"
set_password "$pki" "$node_id" "$out/$node_id.password"
cp "$pki/ca/ca.crt" "$out/ca.crt"
echo "wrote $out/$node_id.password and added $node_id to $pki/broker/passwd"
