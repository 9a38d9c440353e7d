"""Run the yuface wheel's own ``facedetect_cnn`` (x86-64 only), in a child process.

``python -m models.yunet_reference LIBDIR`` reads one image from stdin (two little-endian
int32, height and width, then H*W*3 BGR bytes) and prints the faces as JSON lines:
``[score*100, x, y, w, h, 10 landmark coordinates]``, integers as the library rounds them.
A child process keeps the wheel's bundled libgomp and any crash out of the build itself.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys
from pathlib import Path

# facedetect_cnn(unsigned char* buffer, unsigned char* bgr, int w, int h, int step), C++ name.
SYMBOL = "_Z14facedetect_cnnPhS_iii"
BUFFER_BYTES = 0x9000 + 1024  # the library writes at most 0x9000 bytes (1,024 faces)
STRIDE_SHORTS = 16


def detect(library: Path, image: bytes, height: int, width: int) -> list[list[int]]:
    """Faces as the library reports them (it applies threshold 0.2 and NMS 0.45 itself)."""
    lib = ctypes.CDLL(str(library))
    function = getattr(lib, SYMBOL)
    function.restype = ctypes.POINTER(ctypes.c_int)
    function.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
    ]
    buffer = ctypes.create_string_buffer(BUFFER_BYTES)
    pixels = ctypes.create_string_buffer(image, len(image))
    result = function(buffer, pixels, width, height, width * 3)
    count = int(result[0]) if result else 0
    shorts = (ctypes.c_short * (2 + STRIDE_SHORTS * count)).from_buffer(buffer)
    return [list(shorts[2 + i * STRIDE_SHORTS : 2 + i * STRIDE_SHORTS + 15]) for i in range(count)]


def main() -> int:
    """Read the image from stdin, print one JSON list per face."""
    library = Path(sys.argv[1]) / "yuface" / "libfacedetection.so"
    data = sys.stdin.buffer.read()
    height, width = struct.unpack_from("<ii", data)
    faces = detect(library, data[8:], height, width)
    sys.stdout.write("".join(json.dumps(face) + "\n" for face in faces))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
