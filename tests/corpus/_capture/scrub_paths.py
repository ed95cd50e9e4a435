"""Rewrite local paths inside the string values of recorded OTLP protobuf bodies (exception stack traces).

    python -m tests.corpus._capture.scrub_paths DIR... [--replace OLD NEW]

Without ``--replace``, this machine's paths become the corpus's neutral ones: a capture venv
(``/tmp/capture/venv-*/``) → ``/srv/app/.venv/``, the repository → ``/srv/app/``, the interpreter's prefix →
``/usr/local/``. Every ``DIR/<signal>-<seq>.pb`` holding one is parsed, each string field rewritten
(attribute values, and also span status messages, which carry a stack trace with LangChain), serialized
again and rendered again as ``.otlp.json``; a body with nothing to rewrite is left byte for byte as sent.
The ``.headers.txt`` files keep the Content-Length as received.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tests.corpus._capture.receiver import MESSAGES, render_otlp_json

DEFAULT = [
    (re.compile(r"/tmp/capture/venv-[\w.-]+/"), "/srv/app/.venv/"),
    (re.compile(re.escape(str(Path(__file__).resolve().parents[3])) + "/"), "/srv/app/"),
    (re.compile(re.escape(sys.base_prefix.rstrip("/")) + "/"), "/usr/local/"),
]
Rewrites = list[tuple[re.Pattern[str], str]]


def rewrite(text: str, rewrites: Rewrites) -> str:
    for pattern, replacement in rewrites:
        text = pattern.sub(replacement, text)
    return text


def scrub(message: Message, rewrites: Rewrites) -> None:
    for field, value in message.ListFields():
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for item in value if repeated else [value]:
                scrub(item, rewrites)
        elif field.type == FieldDescriptor.TYPE_STRING:
            if repeated:
                value[:] = [rewrite(s, rewrites) for s in value]
            else:
                setattr(message, field.name, rewrite(value, rewrites))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", type=Path, nargs="+")
    parser.add_argument("--replace", nargs=2, metavar=("OLD", "NEW"), help="a literal rewrite instead of the defaults")
    args = parser.parse_args()
    rewrites = [(re.compile(re.escape(args.replace[0])), args.replace[1])] if args.replace else DEFAULT
    for pb in sorted(pb for directory in args.dirs for pb in directory.glob("*.pb")):
        body = pb.read_bytes()
        signal = pb.name.split("-", 1)[0]
        message = MESSAGES[signal]()
        message.ParseFromString(body)
        unchanged = message.SerializeToString()
        scrub(message, rewrites)
        scrubbed = message.SerializeToString()
        if scrubbed == unchanged:
            continue  # nothing to rewrite: the body stays byte for byte as sent
        pb.write_bytes(scrubbed)
        pb.with_suffix(".otlp.json").write_text(render_otlp_json(signal, scrubbed))
        print(f"{pb}: {len(body)} -> {len(scrubbed)} bytes")


if __name__ == "__main__":
    main()
