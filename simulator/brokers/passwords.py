"""Development credentials for many users at once, in the layout of make-dev-passwords.sh.

``broker_config/make-dev-passwords.sh`` runs ``mosquitto_passwd -b`` once per user, and that
rewrites the whole file each time: 1,000 users took 18.7 s here (200 users 3.8 s). This writes
the same files in one pass: ``OUT_DIR/passwd`` with Mosquitto 2's PBKDF2-SHA512 hashes
(``$7$101$<salt>$<hash>``, 12-byte salt, 101 iterations, what ``mosquitto_passwd`` writes) and
each plaintext password in ``OUT_DIR/<user>.password`` (mode 600, an existing one is reused),
users plus ``watcher``. ``python -m simulator.brokers.passwords OUT_DIR NODE_ID...`` takes the
script's arguments, so a ``DevBroker`` config dir can name it in place of the script.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

ITERATIONS = 101
SALT_BYTES = 12
NODE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
READER = "watcher"


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2 password-file hash of ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _secret(path: Path) -> str:
    try:
        existing = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        existing = []
    if existing and existing[0].strip():
        path.chmod(0o600)
        return existing[0].strip()
    password = secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    return password


def write_dev_passwords(out_dir: Path, nodes: Sequence[str]) -> Path:
    """Write ``passwd`` and ``<user>.password`` for ``nodes`` and ``watcher``; returns passwd."""
    for node in nodes:
        if not NODE_ID.match(node):
            raise ValueError(
                f"invalid node id '{node}': use 1-63 of a-z, 0-9, '_' and '-', "
                "starting with a letter or digit"
            )
        if node == READER:
            raise ValueError("'watcher' is reserved for readers and cannot be a node id")
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{user}:{hash_password(_secret(out_dir / f'{user}.password'))}\n"
        for user in (*nodes, READER)
    ]
    passwd = out_dir / "passwd"
    tmp = out_dir / "passwd.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(lines)
    tmp.replace(passwd)
    return passwd


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m simulator.brokers.passwords OUT_DIR [NODE_ID...]", file=sys.stderr)
        return 2
    try:
        passwd = write_dev_passwords(Path(args[0]), args[1:])
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot write credentials in {args[0]}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {passwd} for {len(args) - 1} nodes and {READER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
