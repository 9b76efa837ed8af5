"""Who may ask the exporter, and what: the Host header, a bearer token, the probe networks.

The exporter reads plugs on request, so a request is a small act on the owner's network.
The Host header must name the address the exporter serves (or a name the owner listed),
which makes DNS rebinding fail: a web page in the owner's browser reaches the exporter
under the attacker's host name, and is refused. A bearer token, when configured, is what
Prometheus's ``authorization`` scrape setting sends. ``probe_networks`` is the only way a
probe may name an address the device store does not hold.
"""

from __future__ import annotations

import configparser
import hmac
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from kshell.errors import UsageError
from kshell.store.config import flag, text

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Guard:
    hosts: frozenset[str] = frozenset()  # names allowed in Host besides the bound address
    networks: tuple[Network, ...] = ()  # where a probe may read a plug the store lacks
    resolve_names: bool = False  # may a probe's host name be looked up in DNS
    token: bytes | None = None  # the bearer token every request must carry

    @classmethod
    def from_config(cls, config: configparser.ConfigParser) -> Guard:
        def words(key: str) -> list[str]:
            raw = text(config, "metrics", key)
            return [w.strip() for w in raw.replace(",", " ").split() if w.strip()]

        networks = []
        for word in words("probe_networks"):
            try:
                networks.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                raise UsageError(
                    f"config [metrics] probe_networks: '{word[:60]}' is not a CIDR network"
                ) from None
        resolve_names = flag(config, "metrics", "resolve_names")
        token_file = text(config, "metrics", "bearer_token_file")
        token = read_token(Path(token_file).expanduser()) if token_file else None
        return cls(
            frozenset(h.lower() for h in words("hosts")), tuple(networks), resolve_names, token
        )

    # -- the request -----------------------------------------------------------------------
    def host_ok(self, header: str | None, bound: tuple[str, int]) -> bool:
        """Does the Host header name this exporter? A name only if the owner listed it."""
        if not header:
            return False
        parsed = split_host(header.strip().lower())
        if parsed is None:
            return False
        name, port = parsed
        if name in self.hosts or f"{name}:{port}" in self.hosts:
            return True  # a listed name, e.g. behind a reverse proxy
        if port != bound[1]:
            return False
        served = _ip(bound[0])
        if name == "localhost":
            return served is not None and (served.is_loopback or served.is_unspecified)
        asked = _ip(name)
        if asked is None or served is None:
            return False  # a name nobody listed: the DNS rebinding case
        # an address the machine answers on: on a wildcard bind any of them (a literal
        # address in Host cannot be a rebinding: that needs a name)
        return served.is_unspecified or _plain(asked) == _plain(served)

    def token_ok(self, header: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, given = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "replace"), self.token)

    # -- probe targets --------------------------------------------------------------------
    def allows(self, host: str) -> bool:
        """May a probe read this address, which the store does not hold?"""
        ip = _ip(host)
        if ip is None or not self.networks:
            return False
        ip = _plain(ip)
        if ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
            return False  # never a plug, whatever network the owner listed
        return any(ip.version == net.version and ip in net for net in self.networks)


def read_token(path: Path) -> bytes:
    """The token in a file only its owner can read (as ssh wants its keys)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise UsageError(
            f"config [metrics] bearer_token_file {path}: {exc.strerror or exc}"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode) or mode & 0o077:
            raise UsageError(
                f"config [metrics] bearer_token_file {path}: others can read it: chmod 600 {path}"
            )
        token = handle.read(4096).strip()
    if not token or b"\n" in token:
        raise UsageError(f"config [metrics] bearer_token_file {path}: one line, the token")
    return token


def split_host(value: str) -> tuple[str, int] | None:
    """'a:1', '[::1]:1', 'a' -> (name, port); no port means 80, as HTTP says."""
    if value.startswith("["):
        inside, sep, rest = value[1:].partition("]")
        if not sep:
            return None
        name, port_text = inside, rest.removeprefix(":") if rest else ""
        if rest and not rest.startswith(":"):
            return None
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    elif ":" in value:
        return None  # a bare IPv6 address must be bracketed
    else:
        name, port_text = value, ""
    if not port_text:
        return name, 80
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def _ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _plain(ip: Address) -> Address:
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip
