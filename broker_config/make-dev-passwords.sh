#!/usr/bin/env bash
# Create a Mosquitto password file for development.
#
#   make-dev-passwords.sh OUT_DIR [NODE_ID...]
#
# Writes OUT_DIR/passwd (hashed, for the broker's password_file) with one user
# per node id plus 'watcher', and each plaintext password to
# OUT_DIR/<user>.password (mode 600) for a node's [mqtt].password_file or
# `kazoe watch --password-file`. An existing <user>.password is reused, so
# re-running keeps running nodes' credentials valid.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 OUT_DIR [NODE_ID...]" >&2
    exit 2
fi
out_dir=$1
shift

passwd_tool=$(command -v mosquitto_passwd || true)
if [[ -z "$passwd_tool" ]]; then
    echo "mosquitto_passwd is not installed: run 'sudo apt-get install mosquitto' and try again" >&2
    exit 1
fi

random_password() {
    if command -v openssl >/dev/null 2>&1; then
        openssl rand -hex 16
    else
        od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
    fi
}

for node_id in "$@"; do
    # The same rule as [node].id; 'watcher' is reserved for readers.
    if [[ ! "$node_id" =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]]; then
        echo "invalid node id '$node_id': use 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit" >&2
        exit 2
    fi
    if [[ "$node_id" == watcher ]]; then
        echo "'watcher' is reserved for readers and cannot be a node id" >&2
        exit 2
    fi
done

umask 077
mkdir -p "$out_dir"
passwd_file="$out_dir/passwd"
tmp_file="$passwd_file.tmp"
rm -f "$tmp_file"
: >"$tmp_file"

for user in "$@" watcher; do
    secret_file="$out_dir/$user.password"
    if [[ ! -s "$secret_file" ]]; then
        random_password >"$secret_file"
        echo >>"$secret_file"
    fi
    chmod 600 "$secret_file"
    "$passwd_tool" -b "$tmp_file" "$user" "$(head -n1 "$secret_file")"
done

mv -f "$tmp_file" "$passwd_file"
echo "wrote $passwd_file for: ${*:+$* }watcher"
