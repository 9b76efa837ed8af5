"""DKIM key lookups at the resolver named by ``[remote] dns = HOST[:PORT]`` (dnspython).

Short timeouts: a slow or silent resolver costs a mail at most ``DNS_TIMEOUT`` seconds per
lookup (and a mail gets two lookups at most), never the 25 s that held orders back.
"""

from __future__ import annotations

from kshell.app.remote.trust import DNS_TIMEOUT, DnsFunc
from kshell.errors import UsageError


def parse_dns(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[V6]:PORT`` for IPv6) -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port_text = tail.lstrip(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host or (port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)):
        raise UsageError(f"[remote] dns '{text}' must be HOST[:PORT]")
    return host, int(port_text) if port_text else 53


def resolver_lookup(host: str, port: int) -> DnsFunc:
    """A dkimpy ``dnsfunc``: the TXT record of a name, asked of one resolver only."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port

    def get_txt(name: bytes | str, timeout: float = DNS_TIMEOUT) -> bytes | None:
        import dkim

        qname = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(
                qname,
                dns.rdatatype.TXT,
                raise_on_no_answer=False,
                lifetime=min(timeout, DNS_TIMEOUT),
                search=False,
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return None
        except dns.exception.Timeout as exc:
            raise dkim.DnsTimeoutError(str(exc)) from None
        except dns.exception.DNSException:
            return None
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(next(iter(rrset.items)).strings)
        return None

    return get_txt
