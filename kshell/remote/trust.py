"""Whether a mail really comes from an allowed sender: an allowlist AND a proof.

``From:`` alone proves nothing (anyone can write it). A proof is one of:

- the topmost ``Authentication-Results`` header, written by the operator's own server
  (its authserv-id), saying ``dkim=pass`` or ``dmarc=pass`` for a domain aligned with the
  From: address. Only the topmost: a sender can add headers of their own below it;
- a DKIM signature that dkimpy verifies, whose ``d=`` is aligned with From: and which
  signs the From: header (a valid signature that does not cover From: proves nothing);
- an ``!auth CODE`` line with a TOTP code from the shared secret, each code used once.

Addresses are compared bare and lower-cased, never by display name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

TOTP_STEP = 30


@dataclass
class Verdict:
    trusted: bool
    sender: str | None  # the bare From: address, lower-cased, when there is exactly one
    permission: str | None = None
    how: str = ""  # the proof that passed, or why the mail is not trusted


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


def _strip_comments(text: str) -> str:
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def parse_authres(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """``'mx; dkim=pass header.d=a.org'`` -> ('mx', [('dkim', 'pass', {'header.d': 'a.org'})])."""
    parts = [p.strip() for p in _strip_comments(" ".join(value.split())).split(";")]
    authserv = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    results = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        props = {}
        for token in tokens[1:]:
            key, eq, val = token.partition("=")
            if eq:
                props[key.lower()] = val.strip('"').lower()
        results.append((method.lower().split("/")[0], result.lower(), props))
    return authserv, results


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


def dkim_proof(raw: bytes, from_domain: str, dnsfunc: DnsFunc | None = None) -> str | None:
    """Verify each DKIM signature; the first aligned one that covers From: is the proof.

    Blocking (DNS): call it in a thread.
    """
    if b"dkim-signature" not in raw[:200_000].lower():
        return None
    import dkim  # only remote mode needs it

    verifier = dkim.DKIM(raw, minkey=1024, timeout=5)
    count = sum(1 for name, _ in verifier.headers if name.lower() == b"dkim-signature")
    for index in range(min(count, 5)):  # a pile of signatures is junk, not diligence
        try:
            ok = (
                verifier.verify(idx=index, dnsfunc=dnsfunc)
                if dnsfunc
                else verifier.verify(idx=index)
            )
        except Exception:  # noqa: BLE001 - dkimpy raises many kinds on malformed input
            ok = False
        domain = (verifier.domain or b"").decode("ascii", "replace")
        if ok and b"from" in verifier.include_headers and aligned(domain, from_domain):
            return f"DKIM signature of {domain.lower()}"
    return None


# -- TOTP (pyotp) -----------------------------------------------------------------------


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code this is (this one, or one either side), else None."""
    if not secret or not re.fullmatch(r"\d{6,8}", code):
        return None
    import pyotp

    try:
        totp = pyotp.TOTP(secret)
        now = time.time() if now is None else now
        for offset in (0, -1, 1):
            moment = int(now) + offset * TOTP_STEP
            if totp.at(moment) == code:
                return moment // TOTP_STEP
    except Exception:  # noqa: BLE001 - a bad secret in the config proves nothing
        return None
    return None


def judge(
    msg: Message,
    raw: bytes,
    *,
    senders: dict[str, str],
    authserv_id: str,
    secret: str,
    auth_codes: list[str],
    use_code: Callable[[str], bool],
    dnsfunc: DnsFunc | None = None,
    trust_authres: bool = True,
) -> Verdict:
    """Allowlist first, then the cheapest proof that holds. Blocking (DKIM, DNS): use a thread.

    ``use_code(key)`` records a TOTP code as used and says whether it was still unused.
    ``trust_authres`` is off where no server of ours wrote the headers (the SMTP listener).
    """
    sender = from_address(msg)
    if sender is None:
        return Verdict(False, None, how="From: does not hold exactly one address")
    permission = senders.get(sender)
    if permission is None:
        return Verdict(False, sender, how="sender not on the allowlist")
    domain = sender.rpartition("@")[2]
    proof = authres_proof(msg, authserv_id, domain) if trust_authres else None
    proof = proof or dkim_proof(raw, domain, dnsfunc)
    if proof is None and auth_codes:
        for code in auth_codes:
            step = totp_step(secret, code)
            if step is not None:
                if use_code(f"{step}:{code}"):
                    proof = "TOTP code"
                    break
                return Verdict(False, sender, how="TOTP code already used")
    if proof is None:
        return Verdict(
            False, sender, how="no proof of origin (no aligned DKIM pass, no valid code)"
        )
    return Verdict(True, sender, permission, proof)
