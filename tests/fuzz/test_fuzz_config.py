"""Fuzzing ``kazoe check-config``: any file gives exit 0 or 2, no traceback, and every
rejection is one line ``file: key = value: reason`` that names the key."""

from __future__ import annotations

import contextlib
import io
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from edge.cli import main
from edge.config import NodeSettings
from tests.fuzz.strategies import REQUIRED, config_documents, deep_arrays, to_toml, toml_garbage

FUZZ = settings(
    max_examples=250,
    derandomize=True,  # the same examples on every run and machine
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FILE_LEVEL = "(file)"  # the key printed for problems of the whole file (TOML syntax)


@dataclass(frozen=True)
class Checked:
    code: int
    out: str
    err: str


def check_config(path: Path, data: bytes) -> Checked:
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check-config", str(path)])
    return Checked(code, out.getvalue(), err.getvalue())


def rejection_keys(path: Path, checked: Checked) -> list[str]:
    """The key named by every stderr line; fails the test on a line of another shape."""
    keys = []
    prefix = f"{path}: "
    for line in checked.err.rstrip("\n").split("\n"):
        assert line.startswith(prefix), f"not 'file: key = value: reason': {line!r}"
        key, sep, rest = line[len(prefix) :].partition(" = ")
        assert sep, f"no 'key = value' in {line!r}"
        value, sep, reason = rest.partition(": ")
        assert key, f"empty key in {line!r}"
        assert key.isprintable(), f"control character in key {key!r}"
        assert sep, f"no reason in {line!r}"
        assert value, f"no value in {line!r}"
        assert reason.strip(), f"empty reason in {line!r}"
        keys.append(key)
    return keys


def assert_clean(checked: Checked) -> None:
    assert checked.code in (0, 2), f"exit {checked.code}: {checked.err}"
    assert "Traceback" not in checked.err
    assert "internal error" not in checked.err


def printable_keys(value: Any) -> bool:
    """No key anywhere in ``value`` holds a control character (a line break, a tab...)."""
    if isinstance(value, dict):
        return all(k.isprintable() and printable_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return all(printable_keys(v) for v in value)
    return True


def top_level_names(doc: dict[str, Any]) -> set[str]:
    return {*doc, *REQUIRED}


@FUZZ
@given(doc=config_documents())
@example(doc=dict(REQUIRED))
@example(doc={**REQUIRED, "policy": {"purposes": ["demographics", "footfall"], "k": 1}})
@example(doc={**REQUIRED, "mqtt": {"port": 0, "reconnect_min_s": 9, "reconnect_max_s": 1}})
def test_any_config_document_is_accepted_or_rejected_key_by_key(
    tmp_path: Path, doc: dict[str, Any]
) -> None:
    # Keys with control characters: see test_a_key_with_a_line_break_stays_on_one_line.
    assume(printable_keys(doc))
    path = tmp_path / "node.toml"
    text = to_toml(doc)

    checked = check_config(path, text.encode())
    event(f"check-config exit {checked.code}")

    assert_clean(checked)
    try:
        NodeSettings.model_validate(tomllib.loads(text))
        valid = True
    except ValueError:
        valid = False
    if checked.code == 0:
        assert valid, f"accepted an invalid config:\n{text}"
        assert checked.out.startswith(f"{path}: ok")
        return
    assert not valid or checked.err, f"rejected a valid config without a reason:\n{text}"
    names = top_level_names(doc)
    for key in rejection_keys(path, checked):
        # A dotted path to a key of the document (a quoted key may hold dots itself).
        named = any(key == name or key.startswith(f"{name}.") for name in names)
        assert named, f"{key!r} names no key of:\n{text}\n{checked.err}"


@FUZZ
@given(text=toml_garbage())
@example(text="[node\nid = 1")
@example(text='node = "x"\n[node]\nid = "a"')
def test_text_that_is_not_toml_is_one_file_level_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "node.toml"

    checked = check_config(path, text.encode())

    assert_clean(checked)
    if checked.code == 2:
        keys = rejection_keys(path, checked)
        assert keys, "exit 2 without saying why"
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            assert keys == [FILE_LEVEL]


@FUZZ
@given(data=st.binary(max_size=120))
@example(data=b"\xff\xfe[node]")
@example(data=b"")
def test_arbitrary_bytes_never_crash_check_config(tmp_path: Path, data: bytes) -> None:
    checked = check_config(tmp_path / "node.toml", data)

    assert_clean(checked)
    assert checked.code == 2 or data.strip() == b""  # only config text can be valid
    assert checked.err.strip(), "rejected without a reason"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_section_is_named(tmp_path: Path, missing: str) -> None:
    doc = {k: v for k, v in REQUIRED.items() if k != missing}
    path = tmp_path / "node.toml"

    checked = check_config(path, to_toml(doc).encode())

    assert checked.code == 2
    assert rejection_keys(path, checked) == [missing]
    assert f"{path}: {missing} = (missing): Field required" in checked.err


@FUZZ
@given(depth=st.integers(min_value=1, max_value=200))
def test_nested_values_are_rejected_key_by_key(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "node.toml"

    checked = check_config(path, deep_arrays(depth).encode())

    assert_clean(checked)
    assert rejection_keys(path, checked) == ["models.extra"]


# -- bugs the fuzzers found (strict xfails: they turn red once fixed; drop the xfail) -----


def test_deeply_nested_arrays_are_a_file_level_error(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"

    checked = check_config(path, deep_arrays(3000).encode())

    assert_clean(checked)
    assert rejection_keys(path, checked) == [FILE_LEVEL]


def test_a_key_with_a_line_break_stays_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    doc = {**REQUIRED, "aggregate": {"\n": False}}

    checked = check_config(path, to_toml(doc).encode())

    assert checked.code == 2
    assert len(rejection_keys(path, checked)) == 1
