"""A tiny DNS server on loopback for the DKIM tests (dnspython's wire format, a UDP socket).

It answers TXT questions from a dict, counts every question it was asked, and can be told
to stay silent (a resolver that never answers), so tests never touch the system resolver::

    with DnsStub({"sel._domainkey.home.test": b"v=DKIM1; k=rsa; p=..."}) as dns:
        ...  # [remote] dns = 127.0.0.1:{dns.port}
        assert dns.asked == ["sel._domainkey.home.test"]
"""

from __future__ import annotations

import socket
import threading
from typing import Self

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsStub:
    def __init__(self, records: dict[str, bytes], silent: bool = False) -> None:
        self.records = {name.rstrip(".").lower(): value for name, value in records.items()}
        self.silent = silent
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = _parse(data)
            if query is None:
                continue  # junk on the wire is not a question
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.asked.append(name)
            if self.silent:
                continue
            answer = dns.message.make_response(query)
            value = self.records.get(name)
            if value is None or question.rdtype != dns.rdatatype.TXT:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            else:
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                text = " ".join('"' + c.decode() + '"' for c in chunks)
                answer.answer.append(
                    dns.rrset.from_text(
                        question.name, 60, dns.rdataclass.IN, dns.rdatatype.TXT, text
                    )
                )
            self.sock.sendto(answer.to_wire(), peer)


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 - dnspython raises several kinds on junk
        return None
