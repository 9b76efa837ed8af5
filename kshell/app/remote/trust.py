"""Whether a mail really comes from an allowed sender: an allowlist AND a proof.

``From:`` alone proves nothing (anyone can write it). A proof here is one of:

- the topmost ``Authentication-Results`` header, written by the operator's own server
  (its authserv-id), saying ``dkim=pass`` or ``dmarc=pass`` for a domain aligned with the
  From: address. Only the topmost: a sender can add headers of their own below it. It is
  read by an RFC 8601 parser (``authres``): a quoted ``"...; dkim=pass"`` is a value, not
  a result;
- a DKIM signature that dkimpy verifies, screened before any DNS lookup: its ``d=`` aligned
  with From:, signing From, Date and Message-ID, without ``l=`` (which lets text be appended),
  at most two of them per mail, each lookup with a short timeout.

The third proof, a TOTP code, is decided by ``kshell.app.remote.totp`` (it needs the journal).
What every aligned signature signs (its domain, body hash and the signed From, Date and
Message-ID) is returned as a key, so the journal runs one signed order once whatever the
headers around it say, and whatever the spelling of its ``b=`` (dkimpy reads ``b=`` as a
number of any length: zero bytes in front of it verify too, so its text is no key). Addresses are compared bare and lower-cased, never by
display name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses


@dataclass
class Verdict:
    trusted: bool
    sender: str | None  # the bare From: address, lower-cased, when there is exactly one
    permission: str | None = None
    how: str = ""  # the proof that passed, or why the mail is not trusted
    signatures: list[str] = field(default_factory=list)  # what aligned signatures sign (keys)


def from_address(msg: Message) -> str | None:
    """The one bare address of From:, or None when there are none or several."""
    headers = msg.get_all("From") or []
    if len(headers) != 1:
        return None
    pairs = [(name, addr) for name, addr in getaddresses([str(headers[0])]) if addr]
    if len(pairs) != 1:
        return None
    address = pairs[0][1].strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        return None
    return address


def aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the From: domain is the signing domain or one of its subdomains."""
    d = signing_domain.strip().strip(".").lower()
    f = from_domain.strip().strip(".").lower()
    return bool(d) and "." in d and (f == d or f.endswith("." + d))


# -- Authentication-Results (RFC 8601) ---------------------------------------------------


def parse_authres(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """``'mx; dkim=pass header.d=a.org'`` -> ('mx', [('dkim', 'pass', {'header.d': 'a.org'})]).

    A header the RFC 8601 parser refuses proves nothing: ('', [])."""
    import authres  # only remote mode needs it

    try:
        parsed = authres.AuthenticationResultsHeader.parse(
            "Authentication-Results: " + " ".join(value.split())
        )
    except Exception:  # noqa: BLE001 - the parser raises several kinds on junk
        return "", []
    results = []
    for result in parsed.results:
        props = {
            f"{p.type}.{p.name}".lower(): str(p.value or "").lower() for p in result.properties
        }
        results.append((str(result.method).lower(), str(result.result).lower(), props))
    return str(parsed.authserv_id or "").lower(), results


def authres_proof(msg: Message, authserv_id: str, from_domain: str) -> str | None:
    """What the topmost Authentication-Results proves for this From: domain, if anything."""
    if not authserv_id:
        return None
    headers = msg.get_all("Authentication-Results") or []
    if not headers:
        return None
    server, results = parse_authres(str(headers[0]))
    if server != authserv_id:
        return None
    for method, result, props in results:
        if result != "pass":
            continue
        if method == "dkim":
            domain = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
        elif method == "dmarc":
            domain = props.get("header.from", "")
        else:
            continue
        if domain and aligned(domain, from_domain):
            return f"{method}=pass for {domain} (Authentication-Results of {server})"
    return None


# -- DKIM (dkimpy) -----------------------------------------------------------------------

DnsFunc = Callable[..., bytes | None]
DKIM_SIGNED = (b"from", b"date", b"message-id")  # what a signature must cover to prove an order
DKIM_MAX_LOOKUPS = 2  # aligned signatures checked per mail; the others are junk
DNS_TIMEOUT = 2.0
# base64 of an 8192-bit RSA signature, the longest any signer makes: dkimpy turns b= into a
# number byte by byte (quadratic), so a longer one is refused before any work
DKIM_MAX_B = 1400


@dataclass
class Signature:
    index: int  # among the DKIM-Signature headers, as dkimpy counts them
    domain: str
    b: str  # what it signs, as a key: what the journal keeps (one signed order runs once)
    problem: str | None  # why it cannot prove anything, before any lookup


def aligned_signatures(raw: bytes, from_domain: str) -> list[Signature]:
    """The DKIM signatures whose ``d=`` is aligned with From:, read without DNS."""
    if b"dkim-signature" not in raw[:200_000].lower():
        return []
    import dkim
    from dkim.util import parse_tag_value

    try:
        headers, _ = dkim.rfc822_parse(raw)
    except Exception:  # noqa: BLE001 - junk headers prove nothing
        return []
    found = []
    sigs = [value for name, value in headers if name.lower() == b"dkim-signature"]
    for index, value in enumerate(sigs):
        tags = _tags(parse_tag_value, value)
        if tags is None:
            continue  # a malformed tag list is no signature
        domain = tags.get(b"d", b"").decode("ascii", "replace").strip().lower()
        if not aligned(domain, from_domain):
            continue
        signed = {h.strip().lower() for h in tags.get(b"h", b"").split(b":")}
        missing = [h.decode() for h in DKIM_SIGNED if h not in signed]
        problem = None
        if len(b"".join(tags.get(b"b", b"").split())) > DKIM_MAX_B:
            problem = "the signature is longer than any key makes"
        elif b"l" in tags:
            problem = "the signature has l= (text could be appended)"
        elif missing:
            problem = f"the signature does not cover {', '.join(missing)}"
        found.append(Signature(index, domain, _signed_key(domain, tags, headers), problem))
    return found


def _signed_key(domain: str, tags: dict[bytes, bytes], headers: list[list[bytes]]) -> str:
    """What a signature vouches for, as dkimpy reads the mail: its domain, its body hash
    (decoded: one hash has several base64 spellings) and the last From, Date and Message-ID
    (the copies it verifies), whitespace folded as relaxed canonicalisation folds it."""
    import base64
    import binascii
    import hashlib

    digest = hashlib.sha256(domain.encode() + b"\0")
    bh = b"".join(tags.get(b"bh", b"").split())
    try:
        digest.update(base64.b64decode(bh) + b"\0")
    except (binascii.Error, ValueError):
        digest.update(bh + b"\0")
    for name in DKIM_SIGNED:
        values = [value for key, value in headers if key.strip().lower() == name]
        digest.update(b" ".join((values[-1] if values else b"").split()) + b"\0")
    return "signed:" + digest.hexdigest()


def _tags(parse: Callable[[bytes], dict[bytes, bytes]], value: bytes) -> dict[bytes, bytes] | None:
    try:
        return parse(value)
    except Exception:  # noqa: BLE001 - dkimpy raises several kinds on junk
        return None


def dkim_proof(
    raw: bytes,
    signatures: list[Signature],
    dnsfunc: DnsFunc | None = None,
    *,
    lookups: bool = True,
    keys: ProvenKeys | None = None,
) -> tuple[str | None, str]:
    """The first usable aligned signature that dkimpy verifies: (proof, why not).

    At most ``DKIM_MAX_LOOKUPS`` lookups; none with ``lookups`` off, where only ``keys``
    that proved a sender before are used. Blocking (DNS): call it in a thread.
    """
    usable = [sig for sig in signatures if sig.problem is None][:DKIM_MAX_LOOKUPS]
    if not usable:
        return None, next((sig.problem for sig in signatures if sig.problem), "") or ""
    import dkim  # only remote mode needs it

    keys = keys if keys is not None else ProvenKeys()
    verifier = dkim.DKIM(raw, minkey=1024, timeout=DNS_TIMEOUT)
    for sig in usable:
        fetched: dict[str, bytes] = {}
        try:
            ok = verifier.verify(idx=sig.index, dnsfunc=keys.lookup(dnsfunc, lookups, fetched))
        except Exception:  # noqa: BLE001 - dkimpy raises many kinds on malformed input
            ok = False
        if ok:
            keys.remember(fetched)
            return f"DKIM signature of {sig.domain}", ""
    return None, "no aligned DKIM signature verified"


@dataclass
class ProvenKeys:
    """DKIM keys that proved a sender lately. With lookups off (a flood of unproven mail:
    junk must cost no DNS) the owner's signature still verifies with the key that proved it
    last time; with lookups on, keys are always asked afresh (a revoked key stops at once)."""

    keep_s: float = 3600.0
    keys: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def lookup(self, dnsfunc: DnsFunc | None, lookups: bool, fetched: dict[str, bytes]) -> DnsFunc:
        def get_txt(name: bytes | str, timeout: float = DNS_TIMEOUT) -> bytes | None:
            key = (name.decode("ascii", "replace") if isinstance(name, bytes) else name).lower()
            if not lookups:
                kept = self.keys.get(key)
                return kept[0] if kept and time.monotonic() - kept[1] < self.keep_s else None
            if dnsfunc is not None:
                record = dnsfunc(name, timeout=timeout)
            else:
                from dkim.dnsplug import get_txt as system_txt

                record = system_txt(name, timeout=timeout)
            if record:
                fetched[key] = record
            return record

        return get_txt

    def remember(self, fetched: dict[str, bytes]) -> None:
        now = time.monotonic()
        self.keys = {k: v for k, v in self.keys.items() if now - v[1] < self.keep_s}
        self.keys.update((name, (record, now)) for name, record in fetched.items())


def judge(
    msg: Message,
    raw: bytes,
    *,
    senders: dict[str, str],
    authserv_id: str,
    dnsfunc: DnsFunc | None = None,
    trust_authres: bool = True,
    lookups: bool = True,
    keys: ProvenKeys | None = None,
) -> Verdict:
    """Allowlist first, then the cheapest proof that holds. Blocking (DKIM, DNS): use a thread.

    ``trust_authres`` is off where no server of ours wrote the headers (the SMTP listener);
    ``lookups`` off (too much unproven mail lately) means no DNS at all: only ``keys`` that
    proved a sender before still verify.
    """
    sender = from_address(msg)
    if sender is None:
        return Verdict(False, None, how="From: does not hold exactly one address")
    permission = senders.get(sender)
    if permission is None:
        return Verdict(False, sender, how="sender not on the allowlist")
    domain = sender.rpartition("@")[2]
    signatures = aligned_signatures(raw, domain)
    found = [sig.b for sig in signatures if sig.b]
    proof = authres_proof(msg, authserv_id, domain) if trust_authres else None
    why = ""
    if proof is not None and any(sig.problem for sig in signatures):
        # the server's pass may be for a signature we would refuse (l=, or Date not signed)
        # while the one we would take failed: check the signatures ourselves
        proof, why = None, next(sig.problem for sig in signatures if sig.problem) or ""
    if proof is None:
        proof, why = dkim_proof(raw, signatures, dnsfunc, lookups=lookups, keys=keys)
    if proof is None:
        return Verdict(
            False,
            sender,
            how="no proof of origin (no aligned DKIM pass" + (f": {why}" if why else "") + ")",
            signatures=found,
        )
    return Verdict(True, sender, permission, proof, signatures=found)
