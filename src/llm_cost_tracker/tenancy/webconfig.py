"""``--web.config.file``: the Prometheus exporter-toolkit web configuration, for the web port.

```yaml
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
  client_ca_file: ca.crt
  min_version: TLS12
basic_auth_users:
  prometheus: $2y$10$...          # bcrypt, as `htpasswd -nBC 10 "" | tr -d ':\\n'` prints
http_server_config:
  headers: {Strict-Transport-Security: max-age=31536000}
```

The same file Prometheus, Alertmanager and the node exporter take (relative paths are relative to it).
Basic auth covers every path of the port but ``/tenants/…``, which take their tenant's bearer token
(a scraper sends one credential or the other, not both). A failed check costs a bcrypt comparison even
for an unknown user, so response times do not tell which users exist; a successful one is remembered
(as a sha256 of user, hash and password), so a scrape every few seconds does not pay bcrypt each time.
TLS is Python's ``ssl`` module through uvicorn; no cryptography of our own.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Final

import anyio.to_thread
import bcrypt
import pydantic

from llm_cost_tracker.config import TlsConfig
from llm_cost_tracker.credentials import basic_credentials
from llm_cost_tracker.inputfile import InputFileError, load_model

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CLIENT_AUTH: Final = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS: Final = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CACHE_SIZE: Final = 1024
_DUMMY_HASH: Final = bcrypt.hashpw(b"llm-cost-tracker: no such user", bcrypt.gensalt(rounds=10))


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class HttpServerConfig(_Strict):
    headers: dict[str, str] = {}


def _bcrypt_hash(value: str) -> str:
    if not value.startswith(("$2a$", "$2b$", "$2y$")) or len(value) != 60:
        raise ValueError("expected a bcrypt hash ($2y$..., 60 characters), e.g. from `htpasswd -nBC 10 USER`")
    return value


class WebConfigFile(_Strict):
    tls_server_config: TlsConfig | None = None
    basic_auth_users: dict[
        Annotated[str, pydantic.Field(min_length=1)], Annotated[str, pydantic.AfterValidator(_bcrypt_hash)]
    ] = {}
    http_server_config: HttpServerConfig = HttpServerConfig()


def ssl_context(tls: TlsConfig, base: Path | None = None) -> ssl.SSLContext:
    """A server ``SSLContext`` (relative paths: to ``base``); raises ``OSError`` or ``ssl.SSLError`` for
    unreadable or mismatched files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    configure_context(context, tls, base)
    return context


def configure_context(context: ssl.SSLContext, tls: TlsConfig, base: Path | None = None) -> None:
    """Load ``tls`` into ``context``: a listener's live context takes a rotated certificate this way, for the
    connections that follow (CAs once trusted stay trusted until restart). Raises as ``ssl_context``."""

    def at(path: Path) -> Path:
        return path if base is None or path.is_absolute() else base / path

    context.load_cert_chain(at(tls.cert_file), at(tls.key_file))
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=str(at(tls.client_ca_file)))
    elif context.verify_mode != ssl.CERT_NONE:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)


class WebConfig:
    """A loaded web configuration: its TLS context and the basic-auth check."""

    def __init__(self, spec: WebConfigFile, base: Path, source: str = "") -> None:
        self.source = source
        self.users = {name.encode(): hashed.encode() for name, hashed in spec.basic_auth_users.items()}
        self.headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in spec.http_server_config.headers.items()
        ]
        self.tls = spec.tls_server_config
        self.base = base
        self.ssl: ssl.SSLContext | None = None
        if self.tls is not None:
            self.ssl = ssl_context(self.tls, base)
        self._verified: dict[bytes, None] = {}

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries valid basic-auth credentials (blocking: bcrypt)."""
        credentials = basic_credentials(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        key = hashlib.sha256(user + b"\0" + (hashed or b"") + b"\0" + password).digest()
        if hashed is not None and key in self._verified:
            return True
        valid = bcrypt.checkpw(password, hashed if hashed is not None else _DUMMY_HASH) and hashed is not None
        if valid:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = None
        return valid


def load_web_config(path: str | Path) -> WebConfig:
    """The web configuration at ``path``; raises ``InputFileError`` (bad keys, unreadable certificates)."""
    spec = load_model(path, WebConfigFile)
    try:
        return WebConfig(spec, Path(path).parent, source=str(path))
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise InputFileError(
            str(path), [f"{path}: tls_server_config: cannot load the certificate or key: {exc}"]
        ) from None


class WebAuthMiddleware:
    """Basic auth and the configured headers for every path of the web port but ``exempt`` prefixes.

    ``current`` is read per request, so a reload that changes the users applies at once.
    """

    def __init__(
        self, app: ASGIApp, current: Callable[[], WebConfig | None], exempt: tuple[str, ...] = ("/tenants/",)
    ) -> None:
        self.app = app
        self.current = current
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.current()
        if scope["type"] != "http" or config is None:
            await self.app(scope, receive, send)
            return
        headers = config.headers
        if headers:
            inner_send = send

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *headers]
                await inner_send(message)

        if config.users and not scope["path"].startswith(self.exempt):
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            if not await anyio.to_thread.run_sync(config.check, authorization):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"www-authenticate", b'Basic realm="llm-cost-tracker"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b"Unauthorized\n"})
                return
        await self.app(scope, receive, send)
