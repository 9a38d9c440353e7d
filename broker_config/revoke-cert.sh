#!/usr/bin/env bash
# Lock a node or reader out: revoke every certificate issued to NAME, remove its
# password and its ACL block.
#
#   revoke-cert.sh PKI_DIR NAME
#
# Rewrites PKI_DIR/broker/ca.crl, passwd and acl. Install them on the broker and
# restart it (Mosquitto reads the revocation list only at start-up). The
# directory PKI_DIR/nodes/NAME or operators/NAME is renamed *.revoked.
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -eq 2 ]] || usage_error "usage: revoke-cert.sh PKI_DIR NAME"
pki=$1
name=$2
[[ "$name" =~ $NODE_ID_RE ]] || usage_error "invalid name '$name'"
need_tool openssl openssl
require_ca "$pki"

revoked=0
# index.txt columns (tab separated): status, expiry, revocation date, serial, file, subject.
serials=$(awk -F'\t' -v cn="/CN=$name" '$1 == "V" && $6 == cn { print $4 }' "$pki/ca/index.txt")
for serial in $serials; do
    openssl ca -config "$pki/ca/openssl.cnf" -revoke "$pki/ca/issued/$serial.pem" >/dev/null 2>&1 ||
        die "openssl could not revoke certificate $serial"
    revoked=$((revoked + 1))
done
gen_crl "$pki"

removed_password=no
if grep -q "^$name:" "$pki/broker/passwd" 2>/dev/null; then
    mosquitto_passwd -D "$pki/broker/passwd" "$name" || die "mosquitto_passwd could not remove $name"
    removed_password=yes
fi
for dir in "$pki/nodes/$name" "$pki/operators/$name"; do
    if [[ -d "$dir" ]]; then
        rm -rf "$dir.revoked"
        mv "$dir" "$dir.revoked"
    fi
done
write_acl "$pki"
echo "revoked $revoked certificate(s) of $name, password removed: $removed_password;" \
    "install $pki/broker/{ca.crl,passwd,acl} on the broker and restart it"
