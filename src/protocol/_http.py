"""Where requests go and what they carry: URLs, paths, headers.

Pure helpers shared by the HTTP and WebSocket bindings of both roles. Thread
ids and other path parameters are percent-encoded as one segment (``/`` and
every other reserved character escaped, and the dot segments ``.`` and ``..``
written as ``%2E``), so a thread id like ``../assistants/x`` stays inside its
segment and cannot reach another route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import quote, urlsplit

import attrs

from ._errors import LocalProtocolError

__all__ = [
    "Endpoint",
    "parse_url",
    "quote_segment",
    "thread_path",
    "Headers",
    "build_headers",
    "STREAM_HEADERS",
    "JSON_HEADERS",
    "USER_AGENT",
]

USER_AGENT: Final = "threadwire/0.1"

Headers = list[tuple[bytes, bytes]]

STREAM_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("content-type", "application/json"),
    ("accept", "text/event-stream"),
    ("cache-control", "no-store"),
    ("accept-encoding", "identity"),
)
"""Headers every event-stream request carries; the caller's cannot override them."""

JSON_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("content-type", "application/json"),
    ("accept", "application/json"),
    ("accept-encoding", "identity"),
)
"""Headers every command request carries."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@attrs.frozen(kw_only=True)
class Endpoint:
    """A server: scheme, host, port and an optional path prefix (no trailing slash)."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def authority(self) -> str:
        """The ``Host`` header value."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if _DEFAULT_PORTS[self.scheme] == self.port:
            return host
        return f"{host}:{self.port}"

    def path(self, *segments: str) -> str:
        """``prefix/seg1/seg2...``; segments are used as given (quote them first)."""
        return self.prefix + "/" + "/".join(segments)


def parse_url(url: str) -> Endpoint:
    """Parse an ``http``, ``https``, ``ws`` or ``wss`` URL with an optional path prefix."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise LocalProtocolError(f"unsupported URL scheme {parts.scheme!r} in {url!r}")
    if not parts.hostname:
        raise LocalProtocolError(f"URL has no host: {url!r}")
    if parts.query or parts.fragment:
        raise LocalProtocolError(f"URL must not have a query or fragment: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise LocalProtocolError(f"bad port in URL {url!r}: {exc}") from None
    return Endpoint(
        scheme=scheme,
        host=parts.hostname,
        port=port if port is not None else _DEFAULT_PORTS[scheme],
        # Spaces and non-ASCII in the prefix are percent-encoded (escapes already
        # there are kept), so the request target is always valid HTTP.
        prefix=quote(parts.path.rstrip("/"), safe="/%!$&'()*+,;=:@"),
    )


def quote_segment(value: str) -> str:
    """Percent-encode ``value`` as exactly one path segment."""
    if not isinstance(value, str) or not value:
        raise LocalProtocolError(f"a path parameter must be a non-empty string, got {value!r}")
    quoted = quote(value, safe="")
    if quoted in (".", ".."):
        quoted = quoted.replace(".", "%2E")
    return quoted


def thread_path(endpoint: Endpoint, thread_id: str, *rest: str) -> str:
    """``/prefix/threads/<thread_id>/<rest...>`` with the thread id encoded."""
    return endpoint.path("threads", quote_segment(thread_id), *rest)


_TOKEN: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE: Final = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")


def _check_header(name: str, value: str) -> None:
    for text in (name, value):
        if "\r" in text or "\n" in text or "\x00" in text:
            raise LocalProtocolError(f"header {name!r} contains CR, LF or NUL")
    # RFC 9110 sections 5.1 and 5.5 (h11's grammar): a name is a token; a value has
    # no leading or trailing whitespace. h11 would refuse either only when sending.
    if not _TOKEN.fullmatch(name):
        raise LocalProtocolError(f"header name {name!r} is not an HTTP token")
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        raise LocalProtocolError(f"header {name!r} has a value with no UTF-8 form") from None
    if not _FIELD_VALUE.fullmatch(raw):
        raise LocalProtocolError(f"header {name!r} has a value HTTP cannot carry: {value!r}")


def build_headers(
    endpoint: Endpoint,
    user: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    forced: Iterable[tuple[str, str]],
    *,
    api_key: str | None = None,
) -> Headers:
    """Host, the caller's headers, then ``forced`` ones, which replace any of the same name."""
    forced_list = list(forced)
    forced_names = {name.lower() for name, _ in forced_list}
    items = user.items() if isinstance(user, Mapping) else (user or ())
    headers: Headers = [(b"host", endpoint.authority.encode())]
    seen = {"host"}
    for name, value in items:
        _check_header(name, value)
        lower = name.lower()
        if lower in forced_names or lower == "host":
            continue
        headers.append((lower.encode(), value.encode()))
        seen.add(lower)
    if api_key is not None and "x-api-key" not in seen:
        _check_header("x-api-key", api_key)
        headers.append((b"x-api-key", api_key.encode()))
        seen.add("x-api-key")
    if "user-agent" not in seen and "user-agent" not in forced_names:
        headers.append((b"user-agent", USER_AGENT.encode()))
    headers.extend((name.encode(), value.encode()) for name, value in forced_list)
    return headers
