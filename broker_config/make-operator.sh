#!/usr/bin/env bash
# Create read-only credentials for an operator or a collector.
#
#   make-operator.sh PKI_DIR operator-NAME|collector-NAME [--cert]
#
# Readers read kazoe/v1/# and publish nothing. Writes PKI_DIR/operators/NAME/
# with ca.crt and NAME.password (mode 600), adds NAME to PKI_DIR/broker/passwd
# (for TLS port 8884, or 1883 on the broker host) and rewrites PKI_DIR/broker/acl
# with a read-only block for every reader. --cert also issues a client
# certificate (NAME.crt, NAME.key) for port 8883. Re-running keeps the password.
# One reader name per running program: the broker uses the name as the client
# id, so two programs with the same name disconnect each other.
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -ge 2 ]] || usage_error "usage: make-operator.sh PKI_DIR operator-NAME|collector-NAME [--cert]"
pki=$1
name=$2
cert=${3:-}
[[ -z "$cert" || "$cert" == --cert ]] || usage_error "unknown option $cert"
check_reader_name "$name"
need_tool openssl openssl
require_ca "$pki"

out="$pki/operators/$name"
mkdir -p "$out"
chmod 700 "$out"
set_password "$pki" "$name" "$out/$name.password"
cp "$pki/ca/ca.crt" "$out/ca.crt"
if [[ -n "$cert" && ! -s "$out/$name.crt" ]]; then
    new_key "$out/$name.key.tmp"
    issue_cert "$pki" "$name" client "$out/$name.key.tmp" "$out/$name.crt"
    mv -f "$out/$name.key.tmp" "$out/$name.key"
fi
write_acl "$pki"
echo "wrote $out/ (read-only reader $name); install $pki/broker/passwd and acl on the broker and reload it"
