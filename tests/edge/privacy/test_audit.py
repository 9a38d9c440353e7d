"""The audit log is a hash chain: editing, deleting or reordering a line is caught and named."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import StoreError
from edge.privacy.audit import AUDIT_NAME, AuditLog, verify
from edge.testing import FakeClock


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


# -- retention: rotation with a checkpoint ------------------------------------------------

DAY = timedelta(days=1)


def write_days(state: Path, clock: FakeClock, days: int) -> AuditLog:
    """A start, then one window entry a day for ``days`` days, on the fake clock."""
    log = AuditLog(state, clock=clock.now)
    log.append("start", version="test")
    for seq in range(1, days + 1):
        clock.advance(DAY.total_seconds())
        log.append("window", seq=seq, suppressed_cells=seq % 3)
    return log


def lines_of(state: Path) -> list[str]:
    return (state / AUDIT_NAME).read_text(encoding="utf-8").splitlines()


def rotated_log(state: Path) -> list[str]:
    """Ten days of entries, rotated at 7 days: entries 1-3 removed, 4-11 kept, 12 checkpoint."""
    clock = FakeClock()
    log = write_days(state, clock, 10)
    rotation = log.rotate(clock.now() - 7 * DAY, retention_days=7)
    assert rotation is not None
    assert (rotation.removed, rotation.first_kept, rotation.checkpoint) == (3, 4, 12)
    return lines_of(state)


def test_rotation_removes_old_entries_and_the_log_still_verifies(tmp_path: Path) -> None:
    lines = rotated_log(tmp_path)
    docs = [json.loads(line) for line in lines]
    assert [d["entry"] for d in docs] == list(range(4, 13))
    checkpoint = docs[-1]
    assert checkpoint["event"] == "rotate"
    assert (checkpoint["removed_from"], checkpoint["removed_through"]) == (1, 3)
    assert checkpoint["removed_through_hash"] == docs[0]["prev"]
    verdict = verify(tmp_path)
    assert verdict.ok, verdict.message
    assert verdict.entries == 9
    assert "entries 1..3 removed by retention" in verdict.message


def test_a_rotated_log_continues_and_rotates_again(tmp_path: Path) -> None:
    clock = FakeClock()
    write_days(tmp_path, clock, 10).rotate(clock.now() - 7 * DAY)
    again = AuditLog(tmp_path, clock=clock.now)  # a restart reads the tail as before
    for seq in range(11, 15):
        clock.advance(DAY.total_seconds())
        again.append("window", seq=seq, suppressed_cells=0)
    rotation = again.rotate(clock.now() - 7 * DAY)
    assert rotation is not None
    assert rotation.first_kept == 8
    verdict = verify(tmp_path)
    assert verdict.ok, verdict.message
    assert json.loads(lines_of(tmp_path)[0])["entry"] == 8


def test_nothing_old_enough_leaves_the_log_alone(tmp_path: Path) -> None:
    clock = FakeClock()
    log = write_days(tmp_path, clock, 3)
    before = lines_of(tmp_path)
    assert log.rotate(clock.now() - 7 * DAY) is None
    assert lines_of(tmp_path) == before


def test_a_log_older_than_retention_keeps_only_its_checkpoint(tmp_path: Path) -> None:
    clock = FakeClock()
    log = write_days(tmp_path, clock, 3)
    rotation = log.rotate(clock.now() + DAY)
    assert rotation is not None
    assert rotation.removed == 4
    assert [json.loads(line)["event"] for line in lines_of(tmp_path)] == ["rotate"]
    assert verify(tmp_path).ok
    log.append("stop", frames=1)
    assert verify(tmp_path).ok


def _edit_kept(lines: list[str]) -> list[str]:
    doc = json.loads(lines[1])
    doc["suppressed_cells"] = 99
    return [lines[0], json.dumps(doc, sort_keys=True), *lines[2:]]


def _forge_checkpoint(lines: list[str]) -> list[str]:
    doc = json.loads(lines[-1])
    doc["removed_through"] = 2
    return [*lines[:-1], json.dumps(doc, sort_keys=True)]


@pytest.mark.parametrize(
    ("tamper", "line", "words"),
    [
        (_edit_kept, 2, "edited"),
        (lambda lines: lines[1:], 1, "rotate checkpoint on line 8 kept the log from entry 4"),
        (lambda lines: [lines[0], *lines[2:]], 2, "missing"),
        (lambda lines: [lines[1], lines[0], *lines[2:]], 1, "kept the log from entry 4"),
        (lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]], 4, "out of order"),
        (lambda lines: lines[:-1], 1, "no rotate checkpoint"),
        (lambda lines: [*lines[:-2], lines[-1]], 8, "missing"),
        (_forge_checkpoint, 9, "edited"),
    ],
    ids=[
        "edit-kept",
        "delete-first-kept",
        "delete-middle",
        "swap-first-two",
        "reorder",
        "delete-checkpoint",
        "delete-before-checkpoint",
        "forge-checkpoint",
    ],
)
def test_tampering_with_a_rotated_log_is_caught(
    tmp_path: Path, tamper: Callable[[list[str]], list[str]], line: int, words: str
) -> None:
    lines = rotated_log(tmp_path)
    (tmp_path / AUDIT_NAME).write_text("\n".join(tamper(lines)) + "\n", encoding="utf-8")
    verdict = verify(tmp_path)
    assert not verdict.ok
    assert f"{AUDIT_NAME}:{line}:" in verdict.message, verdict.message
    assert words in verdict.message, verdict.message


def test_cli_accepts_a_rotated_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rotated_log(tmp_path)
    assert main(["audit", "verify", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "chain intact" in out
    assert "removed by retention" in out


def test_a_damaged_log_is_not_rotated(tmp_path: Path) -> None:
    clock = FakeClock()
    log = write_days(tmp_path, clock, 10)
    lines = lines_of(tmp_path)
    damaged = _edit(lines)
    (tmp_path / AUDIT_NAME).write_text("\n".join(damaged) + "\n", encoding="utf-8")
    with pytest.raises(StoreError, match="not rotating a damaged audit log"):
        log.rotate(clock.now() - 7 * DAY)
    assert lines_of(tmp_path) == damaged, "the evidence was rewritten"
