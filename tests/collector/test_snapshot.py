"""What the dashboard calls a node's state: the retained status, or "silent" when it went quiet."""

from __future__ import annotations

import pytest

from collector.queries import NodeView
from collector.snapshot import shown_state

NOW_MS = 1_000_000_000


def node(state: str, seen_s_ago: float) -> NodeView:
    return NodeView(
        "node-a", "default", state, None, None, None, 0, int(NOW_MS - seen_s_ago * 1000)
    )


@pytest.mark.parametrize(
    ("state", "seen_s_ago", "shown"),
    [
        ("online", 10, "online"),
        ("online", 600, "silent"),  # claims online but nothing for 10 min
        ("degraded", 600, "silent"),
        ("degraded", 10, "degraded"),
        ("offline", 600, "offline"),
        ("unknown", 10, "unknown"),
    ],
)
def test_shown_state(state: str, seen_s_ago: float, shown: str) -> None:
    assert shown_state(node(state, seen_s_ago), NOW_MS, stale_after_s=180) == shown
