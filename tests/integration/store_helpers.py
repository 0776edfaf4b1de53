"""Small builders for store tests: row documents and slice documents as the services make them."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from shared.ids import new_id, row_id

NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def row_doc(key: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "globalKey": key,
        "rowData": f"gs://bucket/{key}",
        "dataset": key.split("/", maxsplit=1)[0],
        "mediaType": "image",
        "media": {"mimeType": "image/png", "sizeBytes": 10, "width": None, "height": None},
        "metadata": {},
        "labels": [],
        "labelClasses": [],
        "labelCount": 0,
        "createdAt": NOW,
        "updatedAt": NOW,
        "generation": 1,
    }
    doc.update(fields)
    return doc


def slice_doc(name: str, filter_tree: dict[str, Any], scope_key: str = "catalog") -> dict[str, Any]:
    return {
        "id": new_id(),
        "name": name,
        "description": "",
        "scopeKey": scope_key,
        "filter": filter_tree,
        "filterText": "",
        "orderBy": None,
        "auto": None,
        "status": "building",
        "progress": {"shardsDone": 0, "shardsTotal": 16},
        "etag": "1",
        "buildGeneration": 1,
        "createdAt": NOW,
        "updatedAt": NOW,
    }


def split_is(value: str) -> dict[str, Any]:
    return {"field": "metadata.split", "op": "eq", "value": value}


def key_id(key: str) -> str:
    return row_id(key)


class CuttableLink:
    """A loopback TCP relay to ``upstream`` (host:port) that can be cut: an outage on cue.

    Point a client at :attr:`host`; :meth:`cut` closes the listener and every relayed
    connection, so the client's next call finds nothing listening.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.host = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self._upstream)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
