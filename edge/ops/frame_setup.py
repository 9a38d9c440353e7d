"""``kazoe frame-setup``: draw counting lines and privacy masks on one frame, get the TOML.

One frame is read from the configured source and the configured masks are applied to it
(the preview shows what the node sees); it is encoded as PNG in memory and the camera
buffer is zeroed at once. A tiny page served on 127.0.0.1 only shows it: clicks place line
ends and mask corners, and the page prints the ``[[counting.lines]]`` and
``[[privacy.masks]]`` TOML to paste into the config. The frame is never written to disk or
logged, and the PNG bytes are dropped when the server stops (Ctrl-C).
"""

from __future__ import annotations

import html
import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cv2
import numpy as np

from edge.capture.sources import open_source
from edge.config import NodeSettings
from edge.errors import KazoeError
from edge.privacy.masks import MaskSet

log = logging.getLogger("kazoe.frame_setup")
LOOPBACK = "127.0.0.1"
MAX_EMPTY_READS = 200  # a live source gives None while it waits: give up after this many


def grab_frame(settings: NodeSettings) -> tuple[bytes, int, int]:
    """PNG bytes of one masked frame from the configured source, and its width and height."""
    source = open_source(settings.source.uri, settings.source, datetime.now(tz=UTC))
    try:
        empty = 0
        for frame in source.frames():
            if frame is None:
                empty += 1
                if empty > MAX_EMPTY_READS:
                    break
                continue
            try:
                MaskSet(settings.privacy.masks).apply(frame.image)
                ok, png = cv2.imencode(".png", frame.image)
                height, width = frame.image.shape[:2]
            finally:
                frame.image.fill(0)
            if not ok:
                raise KazoeError("frame-setup: could not encode the frame")
            return bytes(np.asarray(png).tobytes()), width, height
    finally:
        source.close()
    raise KazoeError(f"frame-setup: no frame from {settings.source.uri}; is the camera on?")


def page(settings: NodeSettings, width: int, height: int) -> str:
    """The drawing page; existing lines and masks are drawn for reference."""
    existing = {
        "lines": [
            {"name": ln.name, "start": ln.start, "end": ln.end, "in_side": ln.in_side}
            for ln in settings.counting.lines
        ],
        "masks": [{"name": m.name, "polygon": m.polygon} for m in settings.privacy.masks],
    }
    text = resources.files("edge").joinpath("ops", "frame_setup.html").read_text(encoding="utf-8")
    for key, value in {
        "__WIDTH__": str(width),
        "__HEIGHT__": str(height),
        "__NODE__": html.escape(settings.node.id),
        "__DATA__": html.escape(json.dumps(existing), quote=True),
    }.items():
        text = text.replace(key, value)
    return text


class FrameSetupServer(ThreadingHTTPServer):
    """Serves the page and the frame to this machine only."""

    daemon_threads = True

    def __init__(self, png: bytes, page_html: str, port: int = 0) -> None:
        self.png = png
        self.page_html = page_html.encode()
        super().__init__((LOOPBACK, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/"

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="frame-setup", daemon=True)
        thread.start()
        return thread

    def forget(self) -> None:
        self.png = b""


class _Handler(BaseHTTPRequestHandler):
    server: FrameSetupServer

    def do_GET(self) -> None:
        if self.client_address[0] != LOOPBACK:  # bound to loopback: belt and braces
            self.send_error(403)
            return
        if self.path == "/":
            self._send(200, "text/html; charset=utf-8", self.server.page_html)
        elif self.path == "/frame.png" and self.server.png:
            self._send(200, "image/png", self.server.png)
        else:
            self.send_error(404)

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("frame-setup %s", format % args)


def serve(settings: NodeSettings, port: int) -> int:
    """Grab a frame, serve the page until Ctrl-C; the exit code."""
    png, width, height = grab_frame(settings)
    try:
        server = FrameSetupServer(png, page(settings, width, height), port)
    except OSError as exc:
        raise KazoeError(
            f"frame-setup: cannot listen on {LOOPBACK}:{port}: {exc.strerror}"
        ) from None
    print(f"open {server.url} in a browser on this machine; Ctrl-C when done", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.forget()
        server.server_close()
    return 0
