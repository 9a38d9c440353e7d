# Shared helpers for broker_config/make-*.sh and revoke-cert.sh (sourced, not run).
#
# Layout of a PKI directory (everything a script writes lives under it):
#
#   ca/                  the certificate authority: keep it on an offline admin machine
#     ca.key ca.crt      CA key (mode 600) and certificate
#     openssl.cnf        `openssl ca` settings; index.txt, serial, crlnumber, issued/
#   broker/              copy to the broker as /etc/mosquitto/kazoe/
#     ca.crt ca.crl      trust anchor and revocation list
#     broker.crt broker.key
#     passwd acl         Mosquitto password file and ACL
#   nodes/<id>/          copy to node <id> as /etc/kazoe/
#   operators/<name>/    give to operator/collector <name>

KAZOE_BROKER_CONFIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A node id as [node].id accepts it.
NODE_ID_RE='^[a-z0-9][a-z0-9_-]{0,62}$'
# Readers carry a prefix that no node id may use, so the ACL can tell them apart.
READER_RE='^(operator|collector)-[a-z0-9][a-z0-9_-]{0,52}$'
CERT_DAYS=${KAZOE_CERT_DAYS:-825}

die() {
    echo "$(basename "$0"): $*" >&2
    exit "${KAZOE_EXIT:-1}"
}

usage_error() {
    KAZOE_EXIT=2 die "$@"
}

need_tool() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed: run 'sudo apt-get install $2' and try again"
}

check_node_id() {
    [[ "$1" =~ $NODE_ID_RE ]] ||
        usage_error "invalid node id '$1': use 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit"
    [[ ! "$1" =~ ^(operator|collector)- ]] ||
        usage_error "node id '$1' uses a reader prefix (operator-, collector-); choose another id"
}

check_reader_name() {
    [[ "$1" =~ $READER_RE ]] ||
        usage_error "invalid reader name '$1': use operator-<name> or collector-<name> (a-z, 0-9, '_', '-')"
}

require_ca() {
    local pki=$1
    [[ -s "$pki/ca/ca.key" && -s "$pki/ca/ca.crt" && -s "$pki/ca/openssl.cnf" ]] ||
        die "no CA in $pki: run make-ca.sh $pki first"
}

# new_key FILE: an EC P-256 private key, mode 600 (fast on a Raspberry Pi).
new_key() {
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null) ||
        die "openssl could not create a key in $1"
}

# issue_cert PKI CN KIND KEY CRT [SAN]: sign a certificate for CN with the CA.
# KIND is "server" (broker, needs SAN) or "client" (nodes, readers).
issue_cert() {
    local pki=$1 cn=$2 kind=$3 key=$4 crt=$5 san=${6:-}
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: tmp is local
    trap "rm -rf '$tmp'" RETURN
    {
        echo "basicConstraints = critical, CA:FALSE"
        echo "keyUsage = critical, digitalSignature, keyAgreement"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid, issuer"
        if [[ "$kind" == server ]]; then
            echo "extendedKeyUsage = serverAuth"
            echo "subjectAltName = $san"
        else
            echo "extendedKeyUsage = clientAuth"
        fi
    } >"$tmp/ext.cnf"
    openssl req -new -key "$key" -subj "/CN=$cn" -out "$tmp/req.csr" 2>"$tmp/err" ||
        die "openssl could not create a request for $cn: $(cat "$tmp/err")"
    openssl ca -batch -notext -config "$pki/ca/openssl.cnf" -days "$CERT_DAYS" \
        -extfile "$tmp/ext.cnf" -in "$tmp/req.csr" -out "$tmp/out.crt" >"$tmp/err" 2>&1 ||
        die "the CA refused to sign a certificate for $cn: $(tail -n 3 "$tmp/err")"
    mv -f "$tmp/out.crt" "$crt"
    chmod 644 "$crt"
}

# gen_crl PKI: rewrite broker/ca.crl from the CA database.
gen_crl() {
    local pki=$1
    openssl ca -gencrl -config "$pki/ca/openssl.cnf" -out "$pki/broker/ca.crl.tmp" >/dev/null 2>&1 ||
        die "openssl could not write the revocation list"
    chmod 644 "$pki/broker/ca.crl.tmp"
    mv -f "$pki/broker/ca.crl.tmp" "$pki/broker/ca.crl"
}

# random_secret: 32 hex characters.
random_secret() {
    openssl rand -hex 16
}

# set_password PKI USER FILE: store USER's password (kept in FILE, created when
# missing) in broker/passwd, hashed.
set_password() {
    local pki=$1 user=$2 secret_file=$3
    need_tool mosquitto_passwd mosquitto
    if [[ ! -s "$secret_file" ]]; then
        (umask 077 && random_secret >"$secret_file")
    fi
    chmod 600 "$secret_file"
    touch "$pki/broker/passwd"
    chmod 640 "$pki/broker/passwd"
    mosquitto_passwd -b "$pki/broker/passwd" "$user" "$(head -n1 "$secret_file")" ||
        die "mosquitto_passwd could not add $user"
}

# write_acl PKI: broker/acl = prod/acl + one read-only block per reader.
write_acl() {
    local pki=$1 dir name
    {
        cat "$KAZOE_BROKER_CONFIG_DIR/prod/acl"
        for dir in "$pki"/operators/*/; do
            [[ -d "$dir" ]] || continue
            name=$(basename "$dir")
            [[ "$name" =~ $READER_RE ]] || continue
            echo
            echo "user $name"
            echo "topic read kazoe/v1/#"
            echo "topic deny kazoe/v1/$name/#"
            echo "topic read homeassistant/sensor/#"
            echo "topic deny homeassistant/sensor/$name/#"
        done
    } >"$pki/broker/acl.tmp"
    chmod 644 "$pki/broker/acl.tmp"
    mv -f "$pki/broker/acl.tmp" "$pki/broker/acl"
}
