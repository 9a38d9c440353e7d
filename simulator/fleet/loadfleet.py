"""Many simulated nodes for load tests: one MQTT v5 client per node, all driven by one thread.

paho's own network thread uses ``select()``, which cannot watch file
descriptors above 1023 — a few hundred clients in one process. Here every
client's socket sits in one ``selectors`` (epoll) loop instead, and every paho
call happens on that loop's thread; other threads only queue publishes.
"""

from __future__ import annotations

import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt

from edge.delivery.client import ClientOptions, make_client
from edge.testing import sample_status
from simulator.brokers.dev import DevBroker
from simulator.fleet.collector_harness import sample_notice

_Request = tuple[str, str, bytes, bool]  # node id, leaf, payload, retain


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition``; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.02)


class LoadFleet:
    """Nodes connected as themselves, with a retained birth status, notice and Will."""

    def __init__(self, broker: DevBroker, node_ids: Sequence[str], sites: Sequence[str]) -> None:
        self._clients: dict[str, mqtt.Client] = {}
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self.connected = 0
        self.unacked = 0
        self._stop = threading.Event()
        for node_id in node_ids:
            client = make_client(
                ClientOptions(
                    client_id=node_id,
                    username=node_id,
                    password=broker.password(node_id),
                    max_inflight=1000,
                    suppress_exceptions=False,
                )
            )
            will = sample_status(node_id, "offline").to_json()
            client.will_set(f"kazoe/v1/{node_id}/status", will, qos=1, retain=True)
            client.on_connect = self._on_connect
            client.on_publish = self._on_publish
            client.connect(broker.host, broker.port, keepalive=60)  # sends CONNECT
            self._selector.register(client.socket(), selectors.EVENT_READ, client)  # type: ignore[arg-type]
            self._clients[node_id] = client
        self._thread = threading.Thread(target=self._run, name="load-fleet", daemon=True)
        self._thread.start()
        self.wait(lambda: self.connected == len(self._clients), 120, "every node to connect")
        for node_id, site in zip(node_ids, sites, strict=True):
            self.publish(node_id, "status", sample_status(node_id, "online").to_json(), retain=True)
            self.publish(node_id, "notice", sample_notice(node_id, site), retain=True)

    @property
    def node_ids(self) -> list[str]:
        return list(self._clients)

    def publish(self, node_id: str, leaf: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 publish (thread-safe)."""
        with self._lock:
            self.unacked += 1
        self._requests.put((node_id, leaf, payload, retain))
        self._wake_w.send(b"x")

    def wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        wait_for(condition, timeout_s, what)

    def close(self) -> None:
        self._stop.set()
        self._wake_w.send(b"x")
        self._thread.join(10)
        for client in self._clients.values():
            client.disconnect()
            client.loop_write()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- the loop thread ------------------------------------------------------------------

    def _run(self) -> None:
        last_misc = time.monotonic()
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                client = key.data
                if client is None:
                    while True:
                        try:
                            if not self._wake_r.recv(4096):
                                break
                        except BlockingIOError:
                            break
                else:
                    client.loop_read()
            self._drain_requests()
            if time.monotonic() - last_misc >= 1.0:
                last_misc = time.monotonic()
                for client in self._clients.values():
                    client.loop_misc()
                    if client.want_write():
                        client.loop_write()

    def _drain_requests(self) -> None:
        while True:
            try:
                node_id, leaf, payload, retain = self._requests.get_nowait()
            except queue.Empty:
                return
            client = self._clients[node_id]
            client.publish(f"kazoe/v1/{node_id}/{leaf}", payload, qos=1, retain=retain)
            if client.want_write():
                client.loop_write()

    def _on_connect(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        with self._lock:
            self.connected += 1

    def _on_publish(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        with self._lock:
            self.unacked -= 1
