"""What KLAP and AES share over HTTP: one lock and one deadline per request, a kept session.

The bytes on the line are the small client's (``httpclient``); this module owns the session
around it: when to renew it, when a request may be sent again, and errors naming the plug.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from kshell.device.transports.base import Credentials, Transport
from kshell.device.transports.httpclient import ClosedBeforeAnswer, HttpAnswer, HttpConnection
from kshell.errors import DeviceTimeout, KshellError, ProtocolError, TransportError

ONE_DAY = 86400
RENEW_MARGIN = 1200  # python-kasa renews 20 min before the plug's TIMEOUT: plug clocks drift


def session_lifetime(cookies: Mapping[str, str]) -> float:
    """Seconds a fresh session may be used before renewing it, from the ``TIMEOUT`` cookie
    (a day when absent or unreadable, as python-kasa assumes). Short test timeouts keep
    three quarters of their length instead of going negative."""
    raw = cookies.get("TIMEOUT", "")
    timeout = min(int(raw), 7 * ONE_DAY) if raw.isdigit() else ONE_DAY
    return max(timeout, 1) - min(RENEW_MARGIN, max(timeout, 1) / 4)


class HttpTransport(Transport):
    """What KLAP and AES share: one lock per plug (one request in flight), one deadline per
    request covering any handshake, a kept connection and session, errors naming the plug.

    ``login_version`` is the one the session was made with (KLAP may find the plug proves the
    other one); ``credentials_source`` says whose credentials the plug accepted (the owner's
    or, only when ``try_defaults`` is set for a factory-default plug, a setup default);
    ``handshakes`` counts sessions made, so a caller can see a watch reuse one.
    """

    scheme: ClassVar[str]  # "KLAP" or "AES", as discovery's encrypt_type names it
    fresh_line_after = 5.0  # seconds idle after which a state change opens a new connection
    # does a live session prove the plug knows the credentials? (KLAP: yes; AES: no)
    authenticates_plug: ClassVar[bool]

    def __init__(
        self,
        host: str,
        port: int,
        *,
        credentials: Credentials | None,
        timeout: float,
        login_version: int,
        try_defaults: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if login_version not in (1, 2):
            raise ValueError(f"login version {login_version} (1 or 2)")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.credentials = credentials
        self.login_version = login_version
        self.try_defaults = try_defaults
        self.credentials_source: str | None = None
        self.handshakes = 0
        self._http = HttpConnection(host, port)
        self._lock = asyncio.Lock()
        self._clock = clock  # seconds, for the session's renewal; a test passes its own
        self._renew_at = 0.0  # the clock's time after which the session is renewed first

    @property
    def default_port(self) -> int:
        return 80

    @property
    def session_established(self) -> bool:
        """A session is live and not yet due for renewal."""
        return self._has_session() and self._clock() < self._renew_at

    async def send(self, request: bytes, *, idempotent: bool) -> bytes:
        async with self._lock:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            try:
                return await self._exchange(request, idempotent, deadline)
            except TimeoutError:
                self._http.close()  # a late answer would be read as the next request's
                raise DeviceTimeout(
                    f"no answer within {self.timeout:g} s", target=self.label
                ) from None
            except KshellError as exc:
                if isinstance(exc, (ProtocolError, TransportError)):
                    self._http.close()  # the line is out of step or gone
                exc.target = exc.target or self.label
                raise
            except asyncio.CancelledError:
                self._http.close()
                raise

    def close(self) -> None:
        self._http.close()
        self._drop_session()

    def _start_session(self, cookies: Mapping[str, str]) -> None:
        self.handshakes += 1
        self._renew_at = self._clock() + session_lifetime(cookies)

    async def _post(
        self,
        path: str,
        body: bytes,
        deadline: float,
        *,
        resend: bool,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """One POST. ``resend``: a handshake or a read may go again, once, on a fresh
        connection when the kept one was dropped by the plug without an answer; a state change
        cannot, so it never goes out on a connection idle long enough for the plug to be
        dropping it."""
        fresh_after = None if resend else self.fresh_line_after
        try:
            return await self._http.post(
                path, body, deadline=deadline, headers=headers, fresh_after=fresh_after
            )
        except ClosedBeforeAnswer as exc:
            if not exc.reused:
                raise
            if not resend:
                raise TransportError(
                    "the plug closed the connection without answering; not sent again, "
                    "since it may have been carried out"
                ) from None
        return await self._http.post(path, body, deadline=deadline, headers=headers)

    @abc.abstractmethod
    async def _exchange(self, request: bytes, idempotent: bool, deadline: float) -> bytes:
        """Send one request in the session (making or renewing it as needed)."""

    @abc.abstractmethod
    def _has_session(self) -> bool: ...

    @abc.abstractmethod
    def _drop_session(self) -> None: ...
