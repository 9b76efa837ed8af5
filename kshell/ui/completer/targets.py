"""What the shell knows about plugs, indexed for completion and highlighting.

Built once from the device cache (in memory, no I/O) and rebuilt when the cache changes,
so a keystroke only filters lists that already exist, even with a thousand plugs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kshell.device.transports.xor import DEFAULT_PORT
from kshell.store.devices import DeviceRecord, normalise_mac
from kshell.store.names import fold
from kshell.text import clean

_NEEDS_QUOTES = re.compile(r"[\s'\"\\;#$`]|^$")


@dataclass(frozen=True)
class Candidate:
    """One thing a target word can be: ``text`` is what the operator types."""

    text: str
    kind: str  # alias | outlet | host | mac | keyword
    meta: str
    lower: str = ""  # folded (kshell.store.names.fold): what typed text is compared with
    # typed in place of ``text`` when it differs: a name two plugs share resolves to neither,
    # so its plugs are offered by address (the shared name shown beside each)
    insert: str = ""


@dataclass
class TargetIndex:
    aliases: list[Candidate] = field(default_factory=list)  # plugs, then outlets: alias/N
    hosts: list[Candidate] = field(default_factory=list)
    macs: list[Candidate] = field(default_factory=list)
    known: set[str] = field(default_factory=set)  # folded words that name a known plug
    count: int = 0
    online: int = 0

    @classmethod
    def build(cls, records: list[DeviceRecord]) -> TargetIndex:
        index = cls()
        seen_aliases: dict[str, int] = {}
        for r in records:  # shared as the resolver reads names: plugs' and outlets' alike
            for name in [r.alias] + [str(c.get("alias") or "") for c in r.children]:
                if name:
                    seen_aliases[fold(name)] = seen_aliases.get(fold(name), 0) + 1
        for r in records:
            index.count += 1
            index.online += 1 if r.online else 0
            state = "offline" if not r.online else (r.state or "?")  # offline: asked, no answer
            if r.kind == "bulb":
                state = "bulb, unsupported"
            alias = clean(r.alias, 64)
            where = r.host if r.port == DEFAULT_PORT else f"{r.host}:{r.port}"
            shared = bool(r.alias) and seen_aliases[fold(r.alias)] > 1
            if r.alias:
                meta = f"{r.model}  {where}  {state}"
                index.aliases.append(_cand(r.alias, "alias", meta, shared, where))
                index.known.add(fold(r.alias))
            index.hosts.append(_cand(where, "host", f"{alias or '-'}  {r.model}  {state}"))
            index.known.add(where.lower())
            if r.port == DEFAULT_PORT:
                index.known.add(f"{r.host}:{DEFAULT_PORT}")
            if r.mac:
                index.macs.append(_cand(r.mac, "mac", f"{alias or where}  {r.model}"))
                index.known.add(r.mac.lower())
            parent = r.alias or where
            for child in r.children:
                number = child.get("number")
                name = f"{parent}/{number}"
                child_alias = clean(str(child.get("alias", "")), 64)
                child_state = child.get("state") or "?"
                meta = f"outlet {number}: {child_alias}  {child_state}"
                index.aliases.append(_cand(name, "outlet", meta, shared, f"{where}/{number}"))
                index.known.add(fold(name))
                if child.get("alias"):
                    index.known.add(fold(str(child["alias"])))
        index.aliases.sort(key=lambda c: (c.kind != "alias", c.lower))
        return index

    def is_known(self, word: str) -> bool:
        if fold(word) in self.known:
            return True
        mac = normalise_mac(word) if len(word) == 17 else ""
        return bool(mac) and mac.lower() in self.known


def _cand(text: str, kind: str, meta: str, shared: bool = False, where: str = "") -> Candidate:
    if shared:  # offered by address: the name would be the resolver's shared error
        meta = f"{meta}  (shared name: {text})"
        return Candidate(text, kind, clean(meta, 120), fold(text), where)
    return Candidate(text, kind, clean(meta, 120), fold(text))


def quote_word(word: str) -> str:
    """A word as typed on the command line: quoted when it holds spaces or specials."""
    if not _NEEDS_QUOTES.search(word):
        return word
    if '"' not in word and "\\" not in word:
        return f'"{word}"'
    return "'" + word.replace("'", "'\"'\"'") + "'"
