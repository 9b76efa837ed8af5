"""The ``[remote]`` and ``[senders]`` sections of the config, read once into typed values.

URLs are split by hand rather than with urllib: the config is read with interpolation off
so that a ``%`` (or an ``@``) in a password is just that character, and percent-decoding
would change it.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from kshell.app.remote.auth import AuthSpec, parse_auth
from kshell.app.remote.tls import SECURITY
from kshell.core.invocation import MailRules
from kshell.errors import UsageError
from kshell.lang.registry import PERMISSIONS

REPLY_STYLES = ("full", "compact", "short")
SOURCE_FORMS = "maildir:PATH | imap[s]://USER[:PASSWORD]@HOST:PORT/FOLDER | smtp://HOST:PORT"


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # maildir | imap | smtp
    path: Path | None = None  # maildir
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    tls: bool = False  # imaps://
    starttls: bool = False  # imap:// upgraded by STARTTLS ([remote] source_security)
    auth: AuthSpec = field(default_factory=lambda: AuthSpec("source"))
    explicit_port: bool = False  # the URL names a port (else source_security = ssl means 993)

    def describe(self) -> str:
        """Where it listens, for the toolbar and status (no password)."""
        if self.kind == "maildir":
            return f"maildir {self.path}"
        if self.kind == "imap":
            upgrade = " (STARTTLS)" if self.starttls else ""
            return f"imap{'s' if self.tls else ''} {self.host}:{self.port}/{self.folder}{upgrade}"
        return f"smtp {self.host}:{self.port}"


@dataclass(frozen=True)
class ReplySpec:
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)
    security: str = "none"  # none | starttls | ssl
    auth: AuthSpec = field(default_factory=lambda: AuthSpec("reply"))

    def describe(self) -> str:
        return f"smtp {self.host}:{self.port} ({self.security})"


@dataclass(frozen=True)
class RemoteSettings:
    source: SourceSpec
    reply: ReplySpec | None
    reply_from: str
    marker: str = "!"
    trusted_authserv_id: str = ""
    secret: str = field(default="", repr=False)  # the old shared TOTP secret: read at most
    totp: dict[str, str] = field(default_factory=dict, repr=False)  # kshell.ini's [totp]
    totp_file: Path = Path("kshell-totp.ini")
    dns: tuple[str, int] | None = None  # the resolver for DKIM keys (None: the system's)
    unproven_per_hour: int = 60
    processed_folder: str = "Executed"
    max_commands: int = 10
    max_message_bytes: int = 65536
    smtp_connections: int = 16  # the listener's open sessions at most; more get 421
    idle_refresh: float = 240.0  # seconds one IMAP IDLE lasts before it is renewed
    max_age_minutes: float = 15.0
    rate_per_hour: int = 30
    allow_firmware: bool = False
    reply_style: str = "full"  # full | compact | short
    sms_senders: tuple[str, ...] = ()  # fnmatch globs of senders who always get short replies
    totp_notice_minutes: float = 10.0
    senders: dict[str, str] = field(default_factory=dict)  # bare address -> permission
    allow_raw: bool = False
    sweep_networks: tuple[str, ...] = ()  # CIDRs a mail may sweep with discover
    max_reply_bytes: int = 65536  # a reply's size at most; a command's transcript a share
    mail_min_interval: float = 1.0  # a stream by mail: seconds between rounds at least
    mail_max_samples: int = 600  # a stream by mail: samples (rounds) at most
    mail_time_budget: float = 120.0  # seconds for all of one mail's commands
    mail_concurrency: int = 4  # mails handled at once (different senders)
    addresses: tuple[str, ...] = ()  # what To/Cc/Delivered-To must name (bare, lower-case)
    folder_shared: bool = False  # only orders are moved out of the source folder
    ca_file: Path | None = None  # the CAs trusted for the mail servers (None: the system's)

    def mail_rules(self) -> MailRules:
        """What the runner's gate needs to know about mail from this config."""
        return MailRules(
            allow_raw=self.allow_raw,
            allow_firmware=self.allow_firmware,
            sweep_networks=self.sweep_networks,
            min_interval=self.mail_min_interval,
            max_samples=self.mail_max_samples,
        )


def load_settings(config: configparser.ConfigParser, data_dir: Path) -> RemoteSettings:
    """Read and check the remote sections; a mistake is one UsageError naming the key."""
    sec = "remote"

    def get(key: str) -> str:
        from kshell.store.config import text

        return text(config, sec, key)

    def number(key: str) -> float:  # bounds per key: kshell.store.config.NUMBERS
        from kshell.store.config import number as checked

        return checked(config, sec, key)

    timeout = number("secret_command_timeout")
    source = _with_auth(parse_source(get("source"), data_dir), config, timeout)
    text_of_source = bool(get("source"))
    reply_text = get("reply")
    security = get("reply_security").lower()
    if security not in SECURITY:
        raise UsageError("[remote] reply_security must be none, starttls or ssl")
    reply = (
        _reply_with_auth(parse_reply(reply_text, security), config, timeout) if reply_text else None
    )
    marker = get("marker")
    # every reply line starts with "| " or "> ": a marker either begins with would make each
    # of them an order when a reply is quoted back
    if any(ch.isspace() or ch.isalnum() for ch in marker) or marker.startswith((">", "|")):
        raise UsageError(
            "[remote] marker must be punctuation such as ! (not a letter, space, > or |)"
        )
    style = _reply_style(get("reply_style"), get("reply_format"))
    allow_firmware, allow_raw = (_yes_no(config, key) for key in ("allow_firmware", "allow_raw"))
    from kshell.app.remote.dns import parse_dns
    from kshell.app.remote.totp import FILE_NAME, section_secrets

    totp_file = Path(get("totp_file") or FILE_NAME).expanduser()
    reply_from = get("reply_from") or f"kshell@{socket.gethostname() or 'localhost'}"
    return RemoteSettings(
        source=source,
        reply=reply,
        reply_from=reply_from,
        marker=marker,
        trusted_authserv_id=get("trusted_authserv_id").lower(),
        secret=get("secret").replace(" ", ""),
        totp=section_secrets(config, "kshell.ini"),
        totp_file=totp_file if totp_file.is_absolute() else data_dir / totp_file,
        dns=parse_dns(get("dns")) if get("dns") else None,
        unproven_per_hour=int(number("unproven_per_hour")),
        processed_folder=get("processed_folder"),
        max_commands=int(number("max_commands")),
        max_message_bytes=int(number("max_message_bytes")),
        smtp_connections=int(number("smtp_connections")),
        idle_refresh=number("idle_refresh"),
        max_age_minutes=number("max_age_minutes"),
        rate_per_hour=int(number("rate_per_hour")),
        allow_firmware=allow_firmware,
        reply_style=style,
        sms_senders=_globs(get("sms_senders")),
        totp_notice_minutes=number("totp_notice_minutes"),
        senders=load_senders(config),
        allow_raw=allow_raw,
        sweep_networks=_networks(get("sweep_networks")),
        max_reply_bytes=int(number("max_reply_bytes")),
        mail_min_interval=number("mail_min_interval"),
        mail_max_samples=int(number("mail_max_samples")),
        mail_time_budget=number("mail_time_budget"),
        mail_concurrency=int(number("mail_concurrency")),
        addresses=_addresses(get("address"), reply_from),
        folder_shared=_folder_shared(get("folder_shared").lower(), source, text_of_source),
        ca_file=_ca_file(get("ca_file"), data_dir),
    )


def _addresses(text: str, reply_from: str) -> tuple[str, ...]:
    """``[remote] address``: bare addresses; empty means the one replies come from (never
    "any": a mail must be sent to us to run)."""
    from email.utils import getaddresses

    words = text.replace(",", " ").split() or [reply_from]
    out = []
    for word in words:
        pairs = [addr for _, addr in getaddresses([word]) if addr]
        bare = pairs[0].strip().lower() if len(pairs) == 1 else ""
        local, at, domain = bare.rpartition("@")
        if not at or not local or not domain or any(c in bare for c in '<>"'):
            raise UsageError(f"[remote] address: '{word[:80]}' is not a bare mail address")
        out.append(bare)
    return tuple(out)


def _folder_shared(value: str, source: SourceSpec, configured: bool) -> bool:
    """Whether the source folder also holds mail that is not for kshell (an INBOX)."""
    if value in ("yes", "no"):
        return value == "yes"
    if value != "auto":
        raise UsageError("[remote] folder_shared must be auto, yes or no")
    if source.kind == "imap":
        return source.folder.upper() == "INBOX"
    if source.kind == "maildir" and configured and source.path is not None:
        return not source.path.name.startswith(".")  # a Maildir++ subfolder is ".Name"
    return False  # kshell's own Maildir, or its own SMTP listener's store


def _reply_style(style: str, old_format: str) -> str:
    """``reply_style``, or, left empty, what the old ``reply_format`` key said."""
    if style:
        if style.lower() not in REPLY_STYLES:
            raise UsageError("[remote] reply_style must be full, compact or short")
        return style.lower()
    if old_format.lower() not in ("full", "compact"):
        raise UsageError("[remote] reply_format must be full or compact (or set reply_style)")
    return old_format.lower()


def _globs(text: str) -> tuple[str, ...]:
    """``sms_senders``: address globs, comma separated, compared lower-cased."""
    return tuple(word.strip().lower() for word in text.split(",") if word.strip())


def _auth(
    config: configparser.ConfigParser, prefix: str, password: str, timeout: float
) -> AuthSpec:
    from kshell.store.config import text

    def get(key: str) -> str:
        return text(config, "remote", f"{prefix}_{key}")

    return parse_auth(
        prefix, get("auth"), password, get("password_command"), get("token_command"), timeout
    )


def _with_auth(source: SourceSpec, config: configparser.ConfigParser, timeout: float) -> SourceSpec:
    """The IMAP source with how it logs in and how it is secured (``source_*`` keys)."""
    from dataclasses import replace

    from kshell.store.config import text

    if source.kind != "imap":
        return source
    auth = _auth(config, "source", source.password, timeout)
    if not (source.password or auth.password_command or auth.oauth):
        raise UsageError(
            "[remote] source: imap://USER@HOST has no password: write USER:PASSWORD@, or set "
            "source_password_command, or source_auth = xoauth2 | oauthbearer"
        )
    security = text(config, "remote", "source_security").lower()
    if security and security not in SECURITY:
        raise UsageError("[remote] source_security must be none, starttls or ssl (or empty)")
    if security == "starttls" and source.tls:
        raise UsageError("[remote] source_security = starttls needs imap://, not imaps://")
    tls = source.tls or security == "ssl"
    port = 993 if tls and not source.explicit_port else source.port
    return replace(source, auth=auth, tls=tls, starttls=security == "starttls", port=port)


def _reply_with_auth(
    reply: ReplySpec, config: configparser.ConfigParser, timeout: float
) -> ReplySpec:
    from dataclasses import replace

    auth = _auth(config, "reply", reply.password, timeout)
    if reply.user and not (reply.password or auth.password_command or auth.oauth):
        raise UsageError(
            "[remote] reply: smtp://USER@HOST has no password: write USER:PASSWORD@, or set "
            "reply_password_command, or reply_auth = xoauth2 | oauthbearer"
        )
    if auth.oauth and not reply.user:
        raise UsageError(f"[remote] reply_auth = {auth.kind} needs a user: smtp://USER@HOST:PORT")
    return replace(reply, auth=auth)


def _ca_file(text: str, data_dir: Path) -> Path | None:
    if not text:
        return None
    path = Path(text).expanduser()
    path = path if path.is_absolute() else data_dir / path
    if not path.is_file():
        raise UsageError(f"[remote] ca_file: no file {path}")
    return path


def _yes_no(config: configparser.ConfigParser, key: str) -> bool:
    from kshell.store.config import flag

    return flag(config, "remote", key)


def _networks(text: str) -> tuple[str, ...]:
    """``[remote] sweep_networks``: CIDRs separated by commas or spaces, each checked."""
    out = []
    for word in text.replace(",", " ").split():
        try:
            out.append(str(ipaddress.ip_network(word, strict=False)))
        except ValueError:
            raise UsageError(f"[remote] sweep_networks: '{word}' is not a network (CIDR)") from None
    return tuple(out)


def load_senders(config: configparser.ConfigParser) -> dict[str, str]:
    senders: dict[str, str] = {}
    if not config.has_section("senders"):
        return senders
    for address, level in config.items("senders"):
        bare = address.strip().lower()
        level = level.strip().lower()
        if "@" not in bare or any(ch.isspace() or ch in '<>",' for ch in bare):
            raise UsageError(f"[senders] '{address}' is not a bare mail address")
        if level not in PERMISSIONS:
            raise UsageError(f"[senders] {address} = {level}: use one of {', '.join(PERMISSIONS)}")
        senders[bare] = level
    return senders


def parse_source(text: str, data_dir: Path) -> SourceSpec:
    """The configured source; empty means the Maildir in the state folder (no server needed)."""
    if not text:
        return SourceSpec("maildir", path=data_dir / "Maildir")
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if sep and scheme == "maildir":
        if not rest.strip():
            raise UsageError(f"[remote] source: maildir needs a path ({SOURCE_FORMS})")
        return SourceSpec("maildir", path=Path(rest.strip()).expanduser())
    if scheme in ("imap", "imaps") and rest.startswith("//"):
        userinfo, at, hostpart = rest[2:].rpartition("@")
        user, _, password = userinfo.partition(":")
        if not at or not user:
            raise UsageError(f"[remote] source: IMAP needs USER[:PASSWORD]@ ({SOURCE_FORMS})")
        hostport, _, folder = hostpart.partition("/")
        host, port = _host_port(hostport, 993 if scheme == "imaps" else 143, "source")
        return SourceSpec(
            "imap",
            host=host,
            port=port,
            user=user,
            password=password,
            folder=folder or "INBOX",
            tls=scheme == "imaps",
            explicit_port=_has_port(hostport),
        )
    if scheme == "smtp" and rest.startswith("//"):
        host, port = _host_port(rest[2:].rstrip("/"), 2525, "source")
        return SourceSpec("smtp", host=host, port=port)
    raise UsageError(f"[remote] source '{_redact(text)}' is not one of: {SOURCE_FORMS}")


def parse_reply(text: str, security: str) -> ReplySpec:
    scheme, _, rest = text.partition("://")
    if scheme.lower() not in ("smtp", "smtps") or not rest:
        raise UsageError(
            f"[remote] reply '{_redact(text)}' must be smtp://[USER:PASSWORD@]HOST:PORT"
        )
    userinfo, at, hostport = rest.rpartition("@")
    user, _, password = userinfo.partition(":") if at else ("", "", "")
    if scheme.lower() == "smtps":
        security = "ssl"
    default_port = {"ssl": 465, "starttls": 587}.get(security, 25)
    host, port = _host_port(hostport.rstrip("/"), default_port, "reply")
    return ReplySpec(host, port, user, password, security)


def _has_port(text: str) -> bool:
    return bool(re.search(r":\d*$", text.rpartition("]")[2]))


def _host_port(text: str, default: int, key: str) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:25
        host, _, tail = text[1:].partition("]")
        port_text = tail.lstrip(":")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not host:
        raise UsageError(f"[remote] {key}: missing host")
    if port_text and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise UsageError(f"[remote] {key}: bad port '{port_text}'")
    return host, int(port_text) if port_text else default


def _redact(text: str) -> str:
    """A URL as it may be shown: whatever stands before its last ``@`` (a user and a
    password, however mistyped the rest is: ``imap:/``, ``imap//``) reduced to the scheme
    and ``***``."""
    head, at, tail = text.rpartition("@")
    if not at:
        return text
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*", head)
    return f"{scheme.group() if scheme else ''}:***@{tail}"
