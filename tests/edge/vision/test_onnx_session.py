"""open_session: one shared CPU arena for all models, freed heap returned, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ModelError
from edge.vision.onnx_session import _shared_arena, open_session, release_freed_memory

MODELS = Path(__file__).resolve().parents[3] / "models" / "build"


def _model(name: str) -> Path:
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"built models not found at {MODELS} (run 'make models')")
    return path


def test_every_session_draws_from_the_one_shared_arena() -> None:
    if not _shared_arena():
        pytest.skip("this onnxruntime cannot register a shared CPU arena (logged at start)")
    yunet = open_session(_model("yunet.onnx"), varying_shapes=True)
    gender = open_session(_model("gender-v1.onnx"))
    for session in (yunet, gender):
        options = session.get_session_options()
        assert options.get_session_config_entry("session.use_env_allocators") == "1"
        assert options.intra_op_num_threads == 1
    assert yunet.get_session_options().enable_mem_pattern is False
    assert gender.get_session_options().enable_mem_pattern is True
    # Both still run (the arena is registered once per process, not per session).
    x = np.zeros((1, 3, 32, 32), np.float32)
    (p,) = gender.run(None, {"images": x})
    assert p.shape == (1, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_freed_heap_is_given_back_on_linux() -> None:
    assert release_freed_memory() is True


def test_a_missing_or_broken_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is missing; run 'make models'"):
        open_session(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cannot be loaded \(.*\); run 'make models'"):
        open_session(broken)
