#!/usr/bin/env bash
# Create the certificate authority for one Kazoe deployment.
#
#   make-ca.sh PKI_DIR [--name "Kazoe CA (Kashiwa)"] [--days 3650]
#
# Writes PKI_DIR/ca/ (CA key mode 600, certificate, openssl database) and starts
# PKI_DIR/broker/ with ca.crt, an empty revocation list ca.crl, an empty
# password file and the ACL. Use one CA per deployment and for nothing else:
# Mosquitto accepts any client certificate this CA signs. Keep PKI_DIR/ca on an
# offline machine; only PKI_DIR/broker goes to the broker.
set -euo pipefail
source "$(dirname "$0")/lib/pki.sh"

[[ $# -ge 1 && "$1" != -* ]] || usage_error "usage: make-ca.sh PKI_DIR [--name NAME] [--days N]"
pki=$1
shift
name="Kazoe CA"
days=3650
while [[ $# -gt 0 ]]; do
    case $1 in
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --days) days=${2:?--days needs a value}; shift 2 ;;
    *) usage_error "unknown option $1" ;;
    esac
done
[[ "$days" =~ ^[0-9]+$ && "$days" -ge 1 ]] || usage_error "--days must be a positive number"
need_tool openssl openssl
if [[ -e "$pki/ca/ca.key" ]]; then
    die "$pki/ca/ca.key exists: refusing to replace a CA (every certificate it signed would stop working)"
fi

mkdir -p "$pki/ca/issued" "$pki/broker" "$pki/nodes" "$pki/operators"
chmod 700 "$pki/ca"
ca_dir=$(cd "$pki/ca" && pwd)
: >"$ca_dir/index.txt"
echo "unique_subject = no" >"$ca_dir/index.txt.attr"
openssl rand -hex 16 >"$ca_dir/serial"
echo 01 >"$ca_dir/crlnumber"
cat >"$ca_dir/openssl.cnf" <<CNF
# openssl ca settings for the Kazoe CA (written by make-ca.sh).
[ ca ]
default_ca = kazoe_ca

[ kazoe_ca ]
dir = $ca_dir
database = \$dir/index.txt
serial = \$dir/serial
crlnumber = \$dir/crlnumber
new_certs_dir = \$dir/issued
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
default_md = sha256
default_days = 825
# The broker reads the CRL from its own disk, never from the network, so a long
# validity does not let anyone replay a stale list; a short one would lock every
# client out on the day it lapses.
default_crl_days = $days
policy = policy_cn
copy_extensions = none
unique_subject = no
email_in_dn = no

[ policy_cn ]
commonName = supplied
CNF

new_key "$ca_dir/ca.key"
openssl req -x509 -new -key "$ca_dir/ca.key" -sha256 -days "$days" -subj "/CN=$name" \
    -addext "basicConstraints = critical, CA:TRUE, pathlen:0" \
    -addext "keyUsage = critical, keyCertSign, cRLSign" \
    -addext "subjectKeyIdentifier = hash" \
    -out "$ca_dir/ca.crt" 2>/dev/null || die "openssl could not create the CA certificate"
chmod 644 "$ca_dir/ca.crt"
cp "$ca_dir/ca.crt" "$pki/broker/ca.crt"
touch "$pki/broker/passwd"
chmod 640 "$pki/broker/passwd"
gen_crl "$pki"
write_acl "$pki"
echo "created CA '$name' in $pki/ca (valid $days days); next: make-broker-cert.sh $pki HOSTNAME"
