"""TFLite -> ONNX with tflite2onnx, made byte-reproducible. Heavy imports stay inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.errors import ModelBuildError
from models.quiet import silenced


def tflite_to_onnx(src: Path, dst: Path) -> None:
    """Convert `src` to `dst`; raise ModelBuildError with the converter's reason on failure."""
    raw = dst.with_name(dst.name + ".raw")
    try:
        with silenced("tflite2onnx"):
            import onnx
            import tflite2onnx

            tflite2onnx.convert(str(src), str(raw))
            model = onnx.load(str(raw))
            _canonicalise(model)
            onnx.checker.check_model(model)
            dst.write_bytes(model.SerializeToString(deterministic=True))
    except ImportError as exc:
        raise ModelBuildError(
            f"cannot import the model converter ({exc}); install the build extras: "
            "pip install -e '.[models]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - third-party converter: any failure is one line
        raise ModelBuildError(
            f"converting {src.name} with tflite2onnx failed: {_reason(exc)}"
        ) from None
    finally:
        raw.unlink(missing_ok=True)


def _canonicalise(model: Any) -> None:
    # tflite2onnx keeps initializers and value_info in sets of objects, so their order
    # (and the file's bytes) change from run to run. Sorting by name makes the output
    # reproducible without changing the graph.
    graph = model.graph
    for field in (graph.initializer, graph.value_info):
        ordered = sorted(field, key=lambda item: item.name)
        copies = [type(item)() for item in ordered]
        for copy, item in zip(copies, ordered, strict=True):
            copy.CopyFrom(item)
        del field[:]
        field.extend(copies)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
