"""Faults a simulated plug can be told to show, named as the operator would describe them.

Each fault is set with a value (``True`` for the plain form) and cleared by name; clearing
restores normal behaviour. ``FAULTS`` documents every name and its accepted values.
"""

from __future__ import annotations

from typing import Any

FAULTS: dict[str, str] = {
    "delay": "seconds to wait before answering (TCP and UDP); True means 2 s",
    "drop": "TCP: accept and read the request, never answer",
    "close": "TCP: read the request, close the connection without answering",
    "garbage": "answer random bytes: a well-framed TCP message (or UDP datagram) that is not "
    "valid ciphered JSON",
    "bad_length": "TCP: 'huge' (or True) announces a frame > 1 MiB; 'short' announces more "
    "bytes than are sent and keeps the connection open",
    "bogus_power": "the next N emeter readings (True: all until cleared) report ~28,000 W",
    "tcp_dead": "answers UDP discovery, TCP port refused",
    "offline": "answers nothing: TCP refused, UDP silent",
    "bogus_energy": "get_daystat and get_monthstat count today as ~29,380 kWh (seen on real plugs)",
    "erase_noop": "erase_emeter_stat answers err_code 0 and erases nothing",
    "klap": "port 9999 refused and a bare HTTP server answers on port 80 (or the int given), "
    "like newer KLAP firmware",
    "fw_download_fail": "download_firmware is accepted, then get_download_state answers -7",
    "fw_stall": "a download in progress stops making progress (ratio frozen)",
    "fw_flash_fail": "flash_firmware answers err_code -5 even for a good image",
    "fw_never_back": "after flash_firmware the plug stays down until this fault is cleared",
    # plugs of the current generation (KLAP / AES on HTTP); delay, drop, close, garbage
    # (random bytes instead of HTTP), bad_length, offline and tcp_dead apply to HTTP too
    "third_party_off": "KLAP/AES: 403 on the first handshake (Third-Party Compatibility off)",
    "impostor": "KLAP/AES: the plug does not know the password (a KLAP proof that matches "
    "nothing; an AES login that accepts anything)",
    "password_changed": "KLAP/AES: the owner changed the password (the plug's account differs)",
    "session_expired": "KLAP/AES: the next N requests (True: 1) find their session expired "
    "(KLAP 403, AES error 9999)",
    "bad_body": "KLAP/AES: answers 200 with a body that does not decrypt",
    "bad_signature": "KLAP: answers with a signature that does not verify",
    "oversized": "HTTP: answers 200 with a body of N random bytes (True: 4 MiB)",
}

# faults that change which sockets are open, so the server must re-plan its listeners
NETWORK_FAULTS = frozenset({"offline", "tcp_dead", "klap", "fw_never_back"})


class Faults:
    """The active faults of one plug. Mutated only on the simulator's event loop."""

    def __init__(self) -> None:
        self._active: dict[str, Any] = {}

    def set(self, name: str, value: Any = True) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if value is None or value is False or value == 0:
            self._active.pop(name, None)
            return
        if name == "delay":
            value = 2.0 if value is True else float(value)
            if value < 0:
                raise ValueError("delay must be >= 0 seconds")
        elif name == "bad_length":
            value = "huge" if value is True else str(value)
            if value not in ("huge", "short"):
                raise ValueError("bad_length is 'huge' or 'short'")
        elif name == "bogus_power" and value is not True:
            value = int(value)
        elif name == "session_expired":
            value = 1 if value is True else int(value)
        elif name == "oversized":
            value = 4 * 1024 * 1024 if value is True else int(value)
        elif name == "klap":
            value = 80 if value is True else int(value)
        self._active[name] = value

    def clear(self, name: str | None = None) -> None:
        if name is None:
            self._active.clear()
        else:
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            self._active.pop(name, None)

    def get(self, name: str) -> Any:
        return self._active.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._active

    def __bool__(self) -> bool:
        return bool(self._active)

    def consume(self, name: str) -> bool:
        """True when the fault applies to this event; counted faults count down."""
        value = self._active.get(name)
        if value is None:
            return False
        if value is True:
            return True
        if value <= 1:
            self._active.pop(name, None)
        else:
            self._active[name] = value - 1
        return True

    def snapshot(self) -> dict[str, Any]:
        return dict(self._active)
