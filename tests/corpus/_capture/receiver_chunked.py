"""``receiver.py`` plus ``Transfer-Encoding: chunked`` request bodies (as the OpenTelemetry JS exporters send).

    python -m tests.corpus._capture.receiver_chunked OUT_DIR [--port 4318]

``receiver.py`` reads ``Content-Length`` bytes only, so a chunked body (no ``Content-Length``)
is recorded as an empty ``.pb``. This records the de-chunked body (the chunk framing is
HTTP transport, not part of the OTLP message), otherwise exactly as ``receiver.py`` does:
same file names, same ``.headers.txt`` (which keeps the ``Transfer-Encoding: chunked`` line).
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.corpus._capture.receiver import MESSAGES, Recorder


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" not in handler.headers.get("Transfer-Encoding", "").lower():
        return handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
    parts = []
    while True:
        size_line = handler.rfile.readline()
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(parts)
        parts.append(handler.rfile.read(size))
        handler.rfile.readline()  # CRLF after each chunk


def handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            signal = self.path.rstrip("/").rsplit("/", 1)[-1]
            wire = read_body(self)
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
    print(f"recording OTLP/HTTP (chunked too) on 127.0.0.1:{args.port} into {args.out}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
