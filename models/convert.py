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
            _any_size(model)
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


def _any_size(model: Any) -> None:
    """Let the fully convolutional BlazeFace graph take any batch and any H, W (multiples of 32).

    tflite2onnx bakes the 192x192 (or 128x128) shape into the graph: each Resize gets
    fixed output ``sizes`` and the final Reshapes a batch of 1. Replacing ``sizes`` by
    the equivalent ``scales`` and the batch by 0 ("copy from input") changes nothing
    at the original size (the parity check still runs there) and lets the node run
    the detector once on a whole downscaled frame instead of on many small tiles.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in [*inferred.graph.value_info, *inferred.graph.input]
    }
    inits = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Resize" and len(node.input) == 4:
            sizes = numpy_helper.to_array(inits[node.input[3]]).astype(np.float32)
            scales = sizes / np.asarray(shapes[node.input[0]], dtype=np.float32)
            name = f"{node.input[3]}/scales"
            if name not in inits:
                inits[name] = numpy_helper.from_array(scales, name)
                graph.initializer.append(inits[name])
            node.input[2] = name
            del node.input[3]
        elif node.op_type == "Reshape":
            target = numpy_helper.to_array(inits[node.input[1]]).copy()
            target[0] = 0
            name = f"{node.input[1]}/any_batch"
            if name not in inits:
                inits[name] = numpy_helper.from_array(target.astype(np.int64), name)
                graph.initializer.append(inits[name])
            node.input[1] = name
    for index, label in ((0, "N"), (2, "H"), (3, "W")):
        graph.input[0].type.tensor_type.shape.dim[index].dim_param = label
    for output in graph.output:
        output.type.tensor_type.shape.dim[0].dim_param = "N"
        output.type.tensor_type.shape.dim[1].dim_param = "anchors"
    del graph.value_info[:]
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


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


def yunet_to_onnx(label: str, library: bytes, dst: Path) -> int:
    """Rebuild YuNet from the weights in libfacedetection.so; return the parameter count."""
    from models.yunet_elf import read_weights
    from models.yunet_graph import PARAMETERS, build_graph, check_layers

    weights = check_layers(label, read_weights(label, library))
    try:
        import onnx

        model = build_graph(weights)
        onnx.checker.check_model(model, full_check=True)
        dst.write_bytes(model.SerializeToString(deterministic=True))
    except ImportError as exc:
        raise ModelBuildError(
            f"cannot import onnx ({exc}); install the build extras: pip install -e '.[models]'"
        ) from None
    except Exception as exc:  # noqa: BLE001 - third-party builder: any failure is one line
        raise ModelBuildError(f"building the YuNet graph failed: {_reason(exc)}") from None
    return PARAMETERS
