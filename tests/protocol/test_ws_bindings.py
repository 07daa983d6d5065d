"""The WebSocket bindings, both roles: handshake, messages, control frames, close.

Charter: the client's handshake carries the thread's path and the caller's
headers and yields Opened, or HTTPStatusError (with the bounded body) when the
server rejects it; text messages are reassembled from any fragmentation and
decoded; pings are answered through data_to_send, even mid-message; a close
in either direction is answered once and reported once as Closed (1006 when
the socket just drops); after the close nothing more is read or sent. The
server role reads the same frames from a parsed upgrade request (and its
trailing bytes). Table cases of frames run whole, byte by byte and in seeded
random splits with the same outcome; every bad input is a typed error or a
close with the right code, never another exception.
"""

from __future__ import annotations

import orjson
import pytest
from binding_helpers import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    SPLIT_IDS,
    SPLITS,
    TEXT,
    THREAD,
    WS,
    Splitter,
    client_frame,
    close_payload,
    feed_ws_client,
    feed_ws_server,
    handshake,
    http_response,
    read_frames,
    run_table_case,
    ws_frame,
)
from helpers import event_bytes

from threadwire.protocol import (
    NEED_DATA,
    CommandSuccess,
    Event,
    HTTPStatusError,
    LimitExceeded,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    StreamTruncated,
)
from threadwire.protocol._http import parse_url
from threadwire.protocol._http_server import HTTPRequest, ServerConnection
from threadwire.protocol._ws_client import Closed, Opened, WebSocketClient
from threadwire.protocol._ws_server import WebSocketServer

split_param = pytest.mark.parametrize("split", SPLITS, ids=SPLIT_IDS)

SUCCESS = b'{"type":"success","id":1,"result":{"subscription_id":"sub-1"}}'
EVENT = event_bytes("values", {"x": "é ✓"}, seq=4)
_L = Limits()


def upgrade_request(client: WebSocketClient) -> HTTPRequest:
    server = ServerConnection()
    server.receive_data(client.connect_data())
    request = server.next_request()
    assert isinstance(request, HTTPRequest)
    return request


# -- the handshake --------------------------------------------------------------------


def test_handshake_request() -> None:
    client = WebSocketClient(
        parse_url("wss://api.test/base"),
        "../t",
        headers={"Authorization": "Bearer x", "Host": "evil"},
        api_key="k",
    )
    request = upgrade_request(client)
    assert request.method == "GET" and request.upgrade == "websocket"
    assert request.path == "/base/threads/..%2Ft/stream/events"
    assert request.headers["host"] == "api.test"
    assert request.headers["authorization"] == "Bearer x"
    assert request.headers["x-api-key"] == "k"
    assert request.headers["sec-websocket-version"] == "13"
    with pytest.raises(LocalProtocolError, match="already sent"):
        client.connect_data()


def test_handshake_with_frames_in_the_same_read() -> None:
    client = WebSocketClient(WS, THREAD)
    request = upgrade_request(client)
    server = WebSocketServer(request.raw_headers, request.target)
    answer = server.accept() + server.send_text(SUCCESS) + server.send_text(EVENT)
    for piece in (answer[:30], answer[30:]):
        client.receive_data(piece)
    items = [client.next_event() for _ in range(3)]
    assert [type(item) for item in items] == [Opened, CommandSuccess, Event]
    assert client.next_event() is NEED_DATA and client.closed is None
    assert client.events() == []


def test_nothing_goes_out_before_the_handshake() -> None:
    client = WebSocketClient(WS, THREAD)
    with pytest.raises(LocalProtocolError, match="cannot send on the WebSocket now"):
        client.send_text("{}")
    with pytest.raises(LocalProtocolError, match="cannot ping now"):
        client.ping()


REJECTIONS: list[tuple[str, bytes, bool, int, bytes]] = [
    (
        "403 with a body",
        http_response(
            403,
            b'{"detail":"no"}',
            headers=[("content-type", "application/json")],
            framing="length",
        ),
        False,
        403,
        b'{"deta',
    ),
    ("404, empty", http_response(404, b"", headers=(), framing="length"), False, 404, b""),
    (
        "503, chunked",
        http_response(503, b"4\r\nbusy\r\n0\r\n\r\n", headers=()),
        False,
        503,
        b"busy",
    ),
    (
        "500, body to EOF",
        http_response(500, b"down", headers=(), framing="close", version="1.0"),
        True,
        500,
        b"down",
    ),
    (
        "401, body cut by EOF",
        http_response(401, b"den", headers=[("content-length", "6")], framing="close"),
        True,
        401,
        b"den",
    ),
    ("a 1xx that is not 101", b"HTTP/1.1 100 Continue\r\n\r\n", False, 100, b""),
    (
        "a body over max_error_body",
        http_response(400, b"0123456789", headers=(), framing="length"),
        False,
        400,
        b"012345",
    ),
]


@pytest.mark.parametrize(
    ("data", "eof", "status", "body"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
@split_param
def test_rejected_handshakes(
    split: Splitter, data: bytes, eof: bool, status: int, body: bytes
) -> None:
    client = WebSocketClient(WS, THREAD, limits=Limits(max_error_body=6))
    client.connect_data()
    with pytest.raises(HTTPStatusError) as info:
        for piece in split(data):
            client.receive_data(piece)
        if eof:
            client.receive_data(b"")
    assert (info.value.status, info.value.body) == (status, body)
    assert info.value.retryable is (status >= 500)


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        (b"", StreamTruncated, "closed during the WebSocket handshake"),
        (b"HTTP/1.1 101 Switching", StreamTruncated, "closed during the WebSocket handshake"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            b"sec-websocket-accept: bogus\r\n\r\n",
            RemoteProtocolError,
            "Bad accept token",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", RemoteProtocolError, "Connection: Upgrade"),
        (b"garbage\r\n\r\n", RemoteProtocolError, "Bad HTTP message"),
    ],
    ids=["nothing", "half a head", "a wrong accept token", "no upgrade headers", "not HTTP"],
)
def test_failed_handshakes(data: bytes, error: type[BaseException], text: str) -> None:
    client = WebSocketClient(WS, THREAD)
    client.connect_data()
    with pytest.raises(error, match=text):
        client.receive_data(data)
        client.receive_data(b"")


# -- frames from the server, table-driven -----------------------------------------------

Case = tuple[str, bytes, bool, list[str], tuple[type[BaseException], str] | None, Limits]

CLIENT_CASES: list[Case] = [
    ("a text message", ws_frame(TEXT, SUCCESS), False, ["success:1"], None, _L),
    (
        "a message in three frames",
        ws_frame(TEXT, EVENT[:5], fin=False)
        + ws_frame(CONTINUATION, EVENT[5:20], fin=False)
        + ws_frame(CONTINUATION, EVENT[20:]),
        False,
        ["event:values:4"],
        None,
        _L,
    ),
    (
        "a ping in the middle of a message",
        ws_frame(TEXT, SUCCESS[:9], fin=False)
        + ws_frame(PING, b"hb")
        + ws_frame(CONTINUATION, SUCCESS[9:]),
        False,
        ["success:1", "frame:10:b'hb'"],
        None,
        _L,
    ),
    ("a pong", ws_frame(PONG, b"x") + ws_frame(TEXT, SUCCESS), False, ["success:1"], None, _L),
    (
        "a long message",
        ws_frame(TEXT, event_bytes("values", {"pad": "p" * 70_000}, seq=9)),
        False,
        ["event:values:9"],
        None,
        _L,
    ),
    (
        "a close with a reason",
        ws_frame(TEXT, SUCCESS) + ws_frame(CLOSE, close_payload(1011, "thread stream ended")),
        False,
        ["success:1", "closed:1011", "frame:8:b'\\x03\\xf3thread stream ended'"],
        None,
        _L,
    ),
    (
        "a close without a code",
        ws_frame(CLOSE),
        False,
        ["closed:1005", "frame:8:b''"],
        None,
        _L,
    ),
    (
        "nothing is read after the close",
        ws_frame(CLOSE, close_payload(4403, "forbidden")) + ws_frame(TEXT, SUCCESS),
        False,
        ["closed:4403", "frame:8:b'\\x113forbidden'"],
        None,
        _L,
    ),
    (
        "the close, then the end of input",
        ws_frame(CLOSE, close_payload(1000)),
        True,
        ["closed:1000", "frame:8:b'\\x03\\xe8'"],
        None,
        _L,
    ),
    (
        "the end of input without a close",
        ws_frame(TEXT, SUCCESS),
        True,
        ["success:1", "closed:1006"],
        None,
        _L,
    ),
    (
        "text that is not UTF-8",
        ws_frame(TEXT, b"\xff\xfe"),
        False,
        [
            "closed:1007",
            "frame:8:b\"\\x03\\xef'utf-8' codec can't decode byte 0xff in position 0: "
            'invalid start byte"',
        ],
        None,
        _L,
    ),
    (
        "a masked frame from the server",
        ws_frame(TEXT, SUCCESS, mask=b"abcd"),
        False,
        ["closed:1002", "frame:8:b'\\x03\\xeaclient received unexpected masked frame'"],
        None,
        _L,
    ),
    ("a binary message", ws_frame(BINARY, SUCCESS), False, [], (RemoteProtocolError, "binary"), _L),
    (
        "text that is not JSON",
        ws_frame(TEXT, b"{nope"),
        False,
        [],
        (RemoteProtocolError, "not valid JSON"),
        _L,
    ),
    (
        "a message over the limit",
        ws_frame(TEXT, SUCCESS),
        False,
        [],
        (LimitExceeded, "max_message_size"),
        Limits(max_message_size=32),
    ),
    (
        "frames over the limit together",
        ws_frame(TEXT, SUCCESS[:20], fin=False) + ws_frame(CONTINUATION, SUCCESS[20:]),
        False,
        [],
        (LimitExceeded, "max_message_size"),
        Limits(max_message_size=32),
    ),
]


@pytest.mark.parametrize(
    ("data", "eof", "items", "error", "limits"),
    [case[1:] for case in CLIENT_CASES],
    ids=[case[0] for case in CLIENT_CASES],
)
def test_frames_from_the_server(
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> None:
    run_table_case(feed_ws_client, data, eof, items, error, limits)


def test_close_codes_and_retry() -> None:
    for code, retryable in [
        (1000, False),
        (1011, True),
        (1006, True),
        (1013, True),
        (4403, False),
        (4503, True),
        (1008, False),
    ]:
        assert Closed(code=code).retryable is retryable
    outcome = feed_ws_client(ws_frame(TEXT, SUCCESS), eof=True)
    closed = outcome.items[-1]
    assert closed == Closed(code=1006, reason="connection dropped without a close frame")
    assert outcome.binding.closed == closed


def test_the_client_after_the_close() -> None:
    client, _server = handshake()
    client.receive_data(ws_frame(CLOSE, close_payload(1001, "going away")))
    assert client.events() == [Closed(code=1001, reason="going away")]
    assert read_frames(client.data_to_send()) == [(CLOSE, close_payload(1001, "going away"))]
    with pytest.raises(LocalProtocolError, match=r"closed \(1001\)"):
        client.send_text("{}")
    client.receive_data(ws_frame(TEXT, SUCCESS))  # after the close nothing is read
    client.receive_data(b"")  # the socket's end after the close: nothing more to say
    assert client.events() == [] and client.close() == b""
    with pytest.raises(LocalProtocolError, match="after the end of input"):
        client.receive_data(ws_frame(TEXT, SUCCESS))
    with pytest.raises(LocalProtocolError, match="cannot ping now"):
        client.ping()


@split_param
def test_the_client_closes_first(split: Splitter) -> None:
    client, server = handshake()
    for piece in split(client.close(1000, "done")):
        server.receive_data(piece)
    assert server.closed == 1000
    assert client.close() == b""  # already closing
    with pytest.raises(LocalProtocolError, match="cannot send on the WebSocket now"):
        client.send_text("{}")
    # Until the server's close arrives, messages and pings still come in.
    late = ws_frame(TEXT, SUCCESS) + ws_frame(PING, b"p") + server.data_to_send()
    for piece in split(late):
        client.receive_data(piece)
    assert [type(item) for item in client.events()] == [CommandSuccess, Closed]
    assert client.closed == Closed(code=1000, reason="done")
    assert client.data_to_send() == b""  # no pong and no second close while closing


def test_a_malformed_frame_while_the_client_closes() -> None:
    client, _server = handshake()
    client.close()
    client.receive_data(ws_frame(TEXT, SUCCESS, mask=b"abcd"))
    assert client.events() == [Closed(code=1002, reason="client received unexpected masked frame")]
    assert client.data_to_send() == b""


def test_pings() -> None:
    client, server = handshake()
    server.receive_data(client.ping(b"keepalive"))
    pong = server.data_to_send()
    assert read_frames(pong) == [(PONG, b"keepalive")]
    client.receive_data(pong)
    assert client.events() == [] and client.data_to_send() == b""
    client.receive_data(ws_frame(PING, b"from server"))
    assert read_frames(client.data_to_send()) == [(PONG, b"from server")]


def test_send_text_takes_str_or_bytes() -> None:
    client, server = handshake()
    server.receive_data(client.send_text(b'{"id":1}') + client.send_text("é"))
    assert server.messages() == ['{"id":1}', "é"]


# -- the server role --------------------------------------------------------------------


def test_the_server_reads_the_bytes_that_came_with_the_upgrade() -> None:
    client = WebSocketClient(WS, THREAD)
    http = ServerConnection()
    first = client.connect_data()
    http.receive_data(first)
    request = http.next_request()
    assert isinstance(request, HTTPRequest)
    # A client that did not wait for the 101 (allowed once the request is sent).
    early = client_frame(TEXT, '{"id":1,"method":"state.get"}') + client_frame(PING, b"p")
    http.receive_data(early)
    assert http.trailing_data == early
    server = WebSocketServer(request.raw_headers, request.target, trailing_data=http.trailing_data)
    answer = server.accept()
    assert server.messages() == ['{"id":1,"method":"state.get"}']
    assert read_frames(server.data_to_send()) == [(PONG, b"p")]
    client.receive_data(answer)
    assert client.events() == [Opened()]


def test_data_before_accept_waits_for_it() -> None:
    client = WebSocketClient(WS, THREAD)
    request = upgrade_request(client)
    server = WebSocketServer(request.raw_headers, request.target)
    server.receive_data(client_frame(TEXT, "{}"))
    assert server.messages() == [] and server.closed is None
    server.receive_data(b"")  # the client left before we accepted
    assert server.closed == 1006


@pytest.mark.parametrize(
    ("headers", "method"),
    [
        (
            [
                (b"host", b"a"),
                (b"connection", b"upgrade"),
                (b"upgrade", b"websocket"),
                (b"sec-websocket-version", b"13"),
            ],
            b"GET",
        ),
        ([(b"host", b"a"), (b"connection", b"upgrade"), (b"upgrade", b"websocket")], b"GET"),
        ([(b"host", b"a"), (b"connection", b"close")], b"GET"),
    ],
    ids=["no key", "no version", "no upgrade"],
)
def test_bad_upgrade_requests(headers: list[tuple[bytes, bytes]], method: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="bad WebSocket upgrade") as info:
        WebSocketServer(headers, "/threads/t/stream/events")
    assert info.value.hint == "400"
    answer = ServerConnection().error_response(info.value)
    assert answer.startswith(b"HTTP/1.1 400 ")


SERVER_CASES: list[Case] = [
    ("a text message", client_frame(TEXT, "{}"), False, ["text:{}"], None, _L),
    ("a pong", client_frame(PONG, b"x") + client_frame(TEXT, "{}"), False, ["text:{}"], None, _L),
    (
        "a message in three frames",
        client_frame(TEXT, "é ✓ "[:2], fin=False)
        + client_frame(CONTINUATION, "✓", fin=False)
        + client_frame(CONTINUATION, "!"),
        False,
        ["text:é ✓!"],
        None,
        _L,
    ),
    (
        "a binary message is read as text",
        client_frame(BINARY, b'{"id":2}'),
        False,
        ['text:{"id":2}'],
        None,
        _L,
    ),
    (
        "a binary message in frames",
        client_frame(BINARY, b'{"id":', fin=False)
        + client_frame(PING, b"x")
        + client_frame(CONTINUATION, b"3}"),
        False,
        ['text:{"id":3}', "frame:10:b'x'"],
        None,
        _L,
    ),
    ("binary that is not UTF-8", client_frame(BINARY, b"\xff{"), False, ["text:\ufffd{"], None, _L),
    (
        "a close",
        client_frame(TEXT, "a") + client_frame(CLOSE, close_payload(1000, "bye")),
        False,
        ["text:a", "frame:8:b'\\x03\\xe8bye'", "closed:1000"],
        None,
        _L,
    ),
    (
        "the close, then the end of input",
        client_frame(CLOSE, close_payload(1001)),
        True,
        ["frame:8:b'\\x03\\xe9'", "closed:1001"],
        None,
        _L,
    ),
    (
        "nothing is read after the close",
        client_frame(CLOSE, close_payload(1000)) + client_frame(TEXT, "late"),
        False,
        ["frame:8:b'\\x03\\xe8'", "closed:1000"],
        None,
        _L,
    ),
    (
        "the end of input without a close",
        client_frame(TEXT, "a"),
        True,
        ["text:a", "closed:1006"],
        None,
        _L,
    ),
    (
        "an unmasked client frame",
        ws_frame(TEXT, "{}"),
        False,
        ["frame:8:b'\\x03\\xeaserver received unexpected unmasked frame'", "closed:1002"],
        None,
        _L,
    ),
    (
        "a message over the limit",
        client_frame(TEXT, "x" * 40),
        False,
        [],
        (LimitExceeded, "max_message_size"),
        Limits(max_message_size=32),
    ),
    (
        "binary over the limit",
        client_frame(BINARY, b"x" * 20, fin=False) + client_frame(CONTINUATION, b"y" * 20),
        False,
        [],
        (LimitExceeded, "max_message_size"),
        Limits(max_message_size=32),
    ),
]


@pytest.mark.parametrize(
    ("data", "eof", "items", "error", "limits"),
    [case[1:] for case in SERVER_CASES],
    ids=[case[0] for case in SERVER_CASES],
)
def test_frames_from_the_client(
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> None:
    run_table_case(feed_ws_server, data, eof, items, error, limits)


def test_the_server_after_the_close() -> None:
    client, server = handshake()
    server.receive_data(client.close(1000, "bye"))
    assert server.closed == 1000
    assert read_frames(server.data_to_send()) == [(CLOSE, close_payload(1000, "bye"))]
    server.receive_data(client_frame(TEXT, "{}"))  # after the close nothing is read
    server.receive_data(b"")
    assert server.closed == 1000  # the socket's end does not rewrite the code
    assert server.messages() == []
    with pytest.raises(LocalProtocolError, match="after the end of input"):
        server.receive_data(client_frame(TEXT, "{}"))
    with pytest.raises(LocalProtocolError, match="cannot send on the WebSocket now"):
        server.send_text("{}")
    assert server.close() == b""


def test_the_server_closes_first() -> None:
    client, server = handshake()
    client.receive_data(server.send_text(SUCCESS) + server.close(1011, "thread stream ended"))
    assert [type(item) for item in client.events()] == [CommandSuccess, Closed]
    # The client's ping crossed our close: it goes unanswered, then its close reply ends it.
    server.receive_data(client_frame(PING, b"p") + client.data_to_send())
    assert server.closed == 1011 and server.data_to_send() == b""
    assert server.messages() == []


def test_server_send_text_takes_str_or_bytes() -> None:
    client, server = handshake()
    client.receive_data(server.send_text(SUCCESS) + server.send_text(EVENT.decode()))
    assert [type(item) for item in client.events()] == [CommandSuccess, Event]
    assert orjson.loads(SUCCESS)["id"] == 1
