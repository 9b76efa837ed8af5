"""The small HTTP/1.1 client under KLAP and AES, against scripted servers on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from kshell.device.transports.http import session_lifetime
from kshell.device.transports.httpclient import ClosedBeforeAnswer, HttpConnection, parse_head
from kshell.errors import ProtocolError

HOST = "127.0.0.1"


def run(coro):
    return asyncio.run(coro)


async def scripted(answers: list[bytes], *, close_after: bool = False):
    """A server answering each request (read to its blank line and Content-Length) with the
    next of ``answers``; it counts connections and may close after each answer."""
    state = {"connections": 0, "requests": []}

    async def handler(reader, writer):
        state["connections"] += 1
        try:
            while answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                state["requests"].append(head + await reader.readexactly(length))
                writer.write(answers.pop(0))
                await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handler, HOST, 0)
    return server, server.sockets[0].getsockname()[1], state


def deadline(seconds: float = 2.0) -> float:
    return asyncio.get_running_loop().time() + seconds


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: TP_SESSIONID=AB12;TIMEOUT=1440\r\n\r\nok"


def test_kept_alive_connection_and_cookies():
    async def go():
        server, port, state = await scripted([OK, OK, OK])
        http = HttpConnection(HOST, port)
        for _ in range(3):
            answer = await http.post("/app/x", b"body", deadline=deadline())
            assert (answer.status, answer.body) == (200, b"ok")
            assert answer.cookies == {"TP_SESSIONID": "AB12", "TIMEOUT": "1440"}
        assert state["connections"] == 1
        assert state["requests"][0].startswith(b"POST /app/x HTTP/1.1\r\nHost: 127.0.0.1:")
        assert state["requests"][0].endswith(b"Content-Length: 4\r\n\r\nbody")
        http.close()
        server.close()

    run(go())


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok+extra bytes out of turn",
    ],
)
def test_a_connection_not_fit_to_keep_is_replaced(first):
    async def go():
        server, port, state = await scripted([first, OK])
        http = HttpConnection(HOST, port)
        assert (await http.post("/", b"", deadline=deadline())).body == b"ok"
        assert (await http.post("/", b"", deadline=deadline())).body == b"ok"
        assert state["connections"] == 2
        http.close()
        server.close()

    run(go())


def test_an_idle_connection_the_plug_closed_is_replaced_before_sending():
    async def go():
        server, port, state = await scripted([OK, OK], close_after=True)
        http = HttpConnection(HOST, port)
        await http.post("/", b"", deadline=deadline())
        until = deadline()
        while http.connected and asyncio.get_running_loop().time() < until:
            await asyncio.sleep(0.01)  # the plug's close arrives while idle
        assert not http.connected
        await http.post("/", b"", deadline=deadline())
        assert state["connections"] == 2 and len(state["requests"]) == 2
        http.close()
        server.close()

    run(go())


def test_closed_without_answer_says_whether_the_connection_was_reused():
    async def go():
        async def silent(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(silent, HOST, 0)
        http = HttpConnection(HOST, server.sockets[0].getsockname()[1])
        with pytest.raises(ClosedBeforeAnswer) as caught:
            await http.post("/", b"", deadline=deadline())
        assert caught.value.reused is False
        server.close()

    run(go())


@pytest.mark.parametrize(
    "head,expected",
    [
        (b"HTTP/1.1 200", None),
        (b"HTTP/1.1 2000 OK", "garbage instead of an HTTP status line: 'HTTP/1.1 2000 OK'"),
        (b"HTTP/2 200 OK", "garbage"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2", "unreadable Content"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1", "unreadable Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here", "garbled HTTP header line"),
        (b"HTTP/1.1 200 \x1b[31mred\r\nContent-Length: 0", "garbage"),
    ],
)
def test_status_line_and_headers_are_checked(head, expected):
    if expected is None:
        with pytest.raises(ProtocolError, match="without a Content-Length"):
            parse_head(head, 100)
        return
    with pytest.raises(ProtocolError) as caught:
        parse_head(head, 100)
    assert expected in str(caught.value) and str(caught.value).isprintable()


def test_cookie_values_that_could_split_a_header_are_dropped():
    head = parse_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
        b'Set-Cookie: TP_SESSIONID=a b;TIMEOUT=60\r\nSet-Cookie: SESSIONID="Q1"',
        100,
    )
    assert head.cookies == {"TIMEOUT": "60", "SESSIONID": "Q1"}


@pytest.mark.parametrize(
    "cookie,lifetime",
    [
        ("86400", 86400 - 1200),
        (None, 86400 - 1200),
        ("junk", 86400 - 1200),
        ("2", 1.5),
        ("0", 0.75),
        ("9" * 30, 7 * 86400 - 1200),
    ],
)
def test_session_lifetime(cookie, lifetime):
    assert session_lifetime({} if cookie is None else {"TIMEOUT": cookie}) == lifetime


def test_the_transports_do_not_load_the_crypto_library_until_used():
    code = (
        "import sys, kshell.device.transports.klap, kshell.device.transports.aes;"
        "print(any(m.startswith('cryptography') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
