"""An OTLP/HTTP receiver that only records: every request written to disk, byte for byte.

    python -m tests.corpus._capture.receiver OUT_DIR [--port 4318]

For each ``POST /v1/{traces,metrics,logs}`` it writes, numbered in arrival order
across signals (``seq``), the files of the corpus's conventions:

- ``<signal>-<seq>.pb`` (protobuf bodies) or ``<signal>-<seq>.json`` (OTLP/JSON bodies), decompressed;
- ``<signal>-<seq>.pb.gz`` the wire bytes when the body was gzip-compressed;
- ``<signal>-<seq>.headers.txt`` the request line and headers;
- ``<signal>-<seq>.otlp.json`` a protobuf body rendered as OTLP/JSON (hex ids, lowerCamelCase,
  int64 as strings, enums as integers), for reading and for JSON tests.

It answers 200 with an empty export response, as a collector does.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MESSAGES: dict[str, Any] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping writes base64."""
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in ID_KEYS and isinstance(v, str) else _hex_ids(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


def render_otlp_json(signal: str, body: bytes) -> str:
    message = MESSAGES[signal]()
    message.ParseFromString(body)
    as_dict = json_format.MessageToDict(message, use_integers_for_enums=True)
    return json.dumps(_hex_ids(as_dict), indent=2) + "\n"


class Recorder:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.seq = 0
        self.lock = threading.Lock()

    def record(self, signal: str, request_line: str, headers: str, wire: bytes, encoding: str, json_body: bool) -> None:
        if encoding == "gzip":
            body = gzip.decompress(wire)
        elif encoding == "deflate":
            body = zlib.decompress(wire)
        else:
            body = wire
        with self.lock:
            self.seq += 1
            stem = self.out / f"{signal}-{self.seq:04d}"
        stem.with_suffix(".headers.txt").write_text(
            f"{request_line}\n{headers.rstrip()}\n# body bytes received: {len(wire)}; decoded: {len(body)}\n"
        )
        if json_body:
            stem.with_suffix(".json").write_bytes(body)
            return
        stem.with_suffix(".pb").write_bytes(body)
        if encoding == "gzip":
            Path(f"{stem}.pb.gz").write_bytes(wire)
        Path(f"{stem}.otlp.json").write_text(render_otlp_json(signal, body))


def handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            signal = self.path.rstrip("/").rsplit("/", 1)[-1]
            length = int(self.headers.get("Content-Length", "0"))
            wire = self.rfile.read(length)
            if signal in MESSAGES:
                json_body = "json" in self.headers.get("Content-Type", "")
                recorder.record(
                    signal,
                    self.requestline,
                    str(self.headers),
                    wire,
                    self.headers.get("Content-Encoding", ""),
                    json_body,
                )
                answer = b"{}" if json_body else b""
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if json_body else "application/x-protobuf")
            else:
                answer = b"not found"
                self.send_response(404)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Recorder(args.out)))
    print(f"recording OTLP/HTTP on 127.0.0.1:{args.port} into {args.out}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
