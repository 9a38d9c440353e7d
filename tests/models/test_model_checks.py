"""The parity and softmax checks reject a wrong model with a message naming it."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from models.checks import PARITY_TOLERANCE, compare_outputs, parity_input
from models.errors import ModelBuildError
from models.quiet import silenced

SHAPES = ((1, 4, 16), (1, 4, 1))


def _outputs(offset: float = 0.0) -> dict[str, np.typing.NDArray[np.float32]]:
    regressors = np.linspace(-50, 50, 64, dtype=np.float32).reshape(SHAPES[0])
    classifiers = np.linspace(-5, 5, 4, dtype=np.float32).reshape(SHAPES[1])
    return {"regressors": regressors + offset, "classificators": classifiers}


def test_parity_input_is_fixed_and_in_range() -> None:
    image = parity_input(128, 96)
    assert image.shape == (1, 128, 96, 3)
    assert image.dtype == np.float32
    assert -1.0 <= float(image.min()) < -0.9
    assert 0.9 < float(image.max()) <= 1.0
    np.testing.assert_array_equal(image, parity_input(128, 96))


def test_matching_outputs_report_their_differences() -> None:
    diffs = compare_outputs("m.onnx", _outputs(), _outputs(offset=2e-4), SHAPES)
    assert diffs["classificators"] == 0.0
    assert diffs["regressors"] == pytest.approx(2e-4, rel=0.05)


@pytest.mark.parametrize("offset", [2 * PARITY_TOLERANCE, float("nan")])
def test_outputs_beyond_tolerance_fail(offset: float) -> None:
    with pytest.raises(ModelBuildError, match=r"m.onnx: parity check failed: output regressors"):
        compare_outputs("m.onnx", _outputs(), _outputs(offset=offset), SHAPES)


def test_swapped_or_renamed_outputs_fail() -> None:
    outputs = _outputs()
    renamed = {"boxes": outputs["regressors"], "classificators": outputs["classificators"]}
    with pytest.raises(ModelBuildError, match="TFLite outputs"):
        compare_outputs("m.onnx", _outputs(), renamed, SHAPES)
    with pytest.raises(ModelBuildError, match="output shapes are"):
        compare_outputs("m.onnx", _outputs(), _outputs(), ((1, 8, 16), (1, 8, 1)))


def test_silenced_swallows_python_and_c_level_output(capfd: pytest.CaptureFixture[str]) -> None:
    with silenced("tflite2onnx"):
        print("python stdout")
        sys.stderr.write("python stderr\n")
        os.write(1, b"c stdout\n")
        os.write(2, b"c stderr\n")
        import logging

        logging.getLogger("tflite2onnx").warning("Data type float16 not supported")
    print("after")
    captured = capfd.readouterr()
    assert captured.out == "after\n"
    assert captured.err == ""
