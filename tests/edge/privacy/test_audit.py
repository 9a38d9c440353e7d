"""The audit log is a hash chain: editing, deleting or reordering a line is caught and named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import StoreError
from edge.privacy.audit import AUDIT_NAME, AuditLog, verify


def write_log(state: Path, entries: int = 5) -> list[str]:
    log = AuditLog(state)
    log.append("start", version="test")
    for seq in range(1, entries - 1):
        log.append("window", seq=seq, suppressed_cells=seq % 3)
    log.append("stop", frames=10)
    return (state / AUDIT_NAME).read_text(encoding="utf-8").splitlines()


def test_intact_chain_verifies_and_reopening_continues_it(tmp_path: Path) -> None:
    lines = write_log(tmp_path)
    assert verify(tmp_path).ok
    again = AuditLog(tmp_path)
    assert again.last_hash == json.loads(lines[-1])["hash"]
    again.append("start", version="test")
    verdict = verify(tmp_path)
    assert verdict.ok
    assert verdict.entries == len(lines) + 1


def _edit(lines: list[str]) -> list[str]:
    doc = json.loads(lines[2])
    doc["suppressed_cells"] = 0 if doc["suppressed_cells"] else 1
    return [*lines[:2], json.dumps(doc, sort_keys=True), *lines[3:]]


def _delete(lines: list[str]) -> list[str]:
    return [*lines[:2], *lines[3:]]


def _reorder(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def _garbage(lines: list[str]) -> list[str]:
    return [*lines[:2], "{not json", *lines[3:]]


@pytest.mark.parametrize(
    ("tamper", "line", "words"),
    [
        (_edit, 3, "edited"),
        (_delete, 3, "missing"),
        (_reorder, 2, "out of order"),
        (_garbage, 3, "not an audit entry"),
    ],
    ids=["edit", "delete", "reorder", "garbage"],
)
def test_tampering_is_caught_at_the_first_bad_line(
    tmp_path: Path, tamper: Callable[[list[str]], list[str]], line: int, words: str
) -> None:
    lines = write_log(tmp_path)
    (tmp_path / AUDIT_NAME).write_text("\n".join(tamper(lines)) + "\n", encoding="utf-8")
    verdict = verify(tmp_path)
    assert not verdict.ok
    assert f"{AUDIT_NAME}:{line}:" in verdict.message
    assert words in verdict.message


def test_rewriting_a_hash_to_match_an_edit_still_breaks_the_next_line(tmp_path: Path) -> None:
    lines = write_log(tmp_path)
    doc = json.loads(lines[1])
    doc["version"] = "forged"
    doc.pop("hash")
    from edge.privacy.audit import _digest

    doc["hash"] = _digest(doc["prev"], {k: v for k, v in doc.items() if k != "hash"})
    lines[1] = json.dumps(doc, sort_keys=True)
    (tmp_path / AUDIT_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    verdict = verify(tmp_path)
    assert not verdict.ok
    assert f"{AUDIT_NAME}:3:" in verdict.message


def test_cli_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_log(tmp_path)
    assert main(["audit", "verify", str(tmp_path)]) == 0
    assert "chain intact" in capsys.readouterr().out
    lines = (tmp_path / AUDIT_NAME).read_text(encoding="utf-8").splitlines()
    (tmp_path / AUDIT_NAME).write_text("\n".join(_delete(lines)) + "\n", encoding="utf-8")
    assert main(["audit", "verify", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{AUDIT_NAME}:3:" in err


def test_a_damaged_last_line_stops_the_node_with_a_clear_error(tmp_path: Path) -> None:
    write_log(tmp_path)
    with (tmp_path / AUDIT_NAME).open("a", encoding="utf-8") as handle:
        handle.write("{truncated\n")
    with pytest.raises(StoreError, match="kazoe audit verify"):
        AuditLog(tmp_path)


def test_entries_hold_no_arrays_or_pixels(tmp_path: Path) -> None:
    for line in write_log(tmp_path):
        doc = json.loads(line)
        assert all(not isinstance(v, list) for v in doc.values()), doc
