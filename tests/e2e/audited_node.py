"""Run ``kazoe run`` under a Python audit hook; record file writes and network use.

Usage: python -m tests.e2e.audited_node REPORT.json -- <kazoe arguments>
The report is written through a file descriptor opened before the hook is installed,
so recording never records itself.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def main() -> int:
    report_path, args = sys.argv[1], sys.argv[3:]
    fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    events: list[dict[str, Any]] = []

    def hook(event: str, hook_args: tuple[Any, ...]) -> None:
        if event == "open" and len(hook_args) >= 3:
            path, mode, flags = hook_args[0], hook_args[1], hook_args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing and isinstance(path, str | bytes):
                events.append({"event": "open-write", "path": os.fsdecode(path)})
        elif event == "sqlite3.connect":
            events.append({"event": "sqlite", "path": str(hook_args[0])})
        elif event in ("socket.connect", "socket.bind", "socket.sendto"):
            address = hook_args[1]
            events.append(
                {
                    "event": event,
                    "address": list(address) if isinstance(address, tuple) else str(address),
                }
            )

    sys.addaudithook(hook)
    from edge.cli import main as kazoe

    try:
        code = kazoe(args)
    finally:
        os.write(fd, json.dumps(events).encode())
        os.close(fd)
    return code


if __name__ == "__main__":
    sys.exit(main())
