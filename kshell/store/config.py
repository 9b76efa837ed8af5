"""Where state lives and what the INI config says.

``--home DIR`` (or ``KSHELL_HOME``) holds everything: device store, history, journal,
audit log and the config file. Without it, the XDG data and config folders. The config
is read with interpolation off, so a ``%`` in a password is just a ``%``. User values
are laid over the packaged defaults, so every key always has a value.
"""

from __future__ import annotations

import configparser
import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

from kshell.errors import UsageError
from kshell.home import check_trusted

CONFIG_NAME = "kshell.ini"

DEFAULT_CONFIG = """\
# kshell configuration. Written on first run; every key shown with its default.
# Values here are read with interpolation off: a % is just a %.

[shell]
# seconds allowed for one request to a plug (connect, send, answer, any retry)
timeout = 5
# folders of extra command modules (one .py file per command family), comma separated
command_folders =
# ask before commands that change a plug in a way that is hard to undo (reboot, erase...)
confirm = yes
# colours in the interactive shell: auto | never
color = auto
# colour theme for the prompt's highlighting (a pygments style name)
style = native
# how many lines of history to keep
history_size = 10000

[discovery]
# where to broadcast: "auto" = 255.255.255.255 plus every interface's broadcast address,
# or a comma separated list of addresses (e.g. 127.255.255.255 for simulated plugs)
broadcast = auto
# UDP port discovery broadcasts to, and the TCP port plugs answer on (9999 on real plugs)
port = 9999
tcp_port = 9999
# the UDP port of the encrypted generation's discovery (TDP; 20002 on real plugs)
tdp_port = 20002
# seconds to wait for answers to a broadcast
timeout = 3
# refresh the device list in the background when the shell starts
refresh_on_start = yes

[colors]
# colours of the interactive shell, as prompt_toolkit style strings: "bold ansigreen",
# "#ff8700 underline", "bg:#303030 #ffffff", ... ; empty = the theme's (style above)
verb = bold ansicyan
subverb = ansicyan
target = ansigreen
address = ansiyellow
unknown_target = ansired underline
keyword = bold ansigreen
option = ansimagenta
string = ansiyellow
number = ansiblue
comment = italic ansibrightblack
error = bold ansired bg:default
prompt = bold
prompt_target = bold ansigreen
prompt_remote = bold ansimagenta
toolbar =

[emeter]
# seconds between readings in "emeter watch"
interval = 1

[metrics]
# the Prometheus exporter (kshell --serve-metrics, metrics on): one deadline per scrape, and
# the least time between two real polls of a plug (scrapes within it get the last readings)
scrape_timeout = 5
min_interval = 1
# what /probe?target= may read besides the plugs in the device store: networks in CIDR
# form, comma separated (e.g. 192.0.2.0/24), on the plugs' port only; such a plug is read
# over the old XOR protocol only (an unknown encrypted plug never gets your login).
# Empty: stored plugs only
probe_networks =
# look up a probe's host name in DNS (no: only names of stored plugs are accepted)
resolve_names = no
# host names the exporter answers to besides the address it serves (localhost too, on
# loopback), comma separated; any other Host header is refused (DNS rebinding)
hosts =
# a file (chmod 600) holding the token every request must bring as
# "Authorization: Bearer TOKEN" (Prometheus's authorization setting); empty: none
bearer_token_file =

[firmware]
# folder of firmware images and their manifest (empty: the default library)
library =
# seconds between download-state polls while plugs download an image
poll_interval = 0.5
# give up on a download that makes no progress for this many seconds
stall_timeout = 60
# give up on a download that is not finished after this many seconds
download_timeout = 900
# seconds to wait for a flashed plug beyond the flash and reboot times it reported
reboot_grace = 90

[remote]
# where command mail comes from: maildir:PATH | imap[s]://USER[:PASSWORD]@HOST:PORT/FOLDER |
# smtp://HOST:PORT (listen)
source =
# how the IMAP source logs in: password (in the URL, or the first line printed by
# source_password_command), xoauth2 or oauthbearer (an OAuth 2.0 access token printed by
# source_token_command, run again when the server refuses it); commands run without a shell
source_auth = password
source_password_command =
source_token_command =
# none, starttls (imap:// upgraded, never plaintext) or ssl (imaps://); empty: as the URL says
source_security =
# how replies are sent: smtp[s]://[USER[:PASSWORD]@]HOST:PORT
reply =
reply_security = none
# how replies log in: password (URL or reply_password_command), xoauth2 or oauthbearer
reply_auth = password
reply_password_command =
reply_token_command =
# a PEM file of the CAs that sign the mail servers' certificates (empty: the system's store)
ca_file =
# seconds a password or token command may take
secret_command_timeout = 10
reply_from =
# the address(es) command mail is sent to (comma or space separated): To, Cc or
# Delivered-To must name one of them, or nothing runs (empty: reply_from)
address =
# folder_shared = auto | yes | no: in a shared folder (an INBOX) only orders are moved;
# auto: yes for an IMAP INBOX and a maildir:PATH top folder, no for kshell's own Maildir
folder_shared = auto
# lines of a mail body that start with this are command lines
marker = !
# the authserv-id of your own mail server, the only Authentication-Results trusted
trusted_authserv_id =
# per-sender TOTP secrets for "!auth CODE" lines live in a [totp] section
# (ADDRESS = BASE32SECRET), here or in this file (empty: kshell-totp.ini in the state
# folder, where "remote totp add ADDRESS" writes); either must be chmod 600
totp_file =
# the old TOTP secret shared by every sender: a code made with it proves "read" at most
secret =
# the DNS resolver for DKIM keys, HOST[:PORT] (empty: the system's)
dns =
# mail that proves no sender: at most this many an hour are checked with DNS or codes
unproven_per_hour = 60
processed_folder = Executed
max_commands = 10
max_message_bytes = 65536
# SMTP sessions the listening source (smtp://) serves at once
smtp_connections = 16
# seconds an IMAP IDLE lasts before it is renewed (servers drop an idle client at 30 min)
idle_refresh = 240
max_age_minutes = 15
rate_per_hour = 30
# what mail may run beyond each command's own declaration (help NAME says "by mail")
allow_firmware = no
allow_raw = no
# networks a mail may sweep with "discover CIDR" (e.g. 192.0.2.0/24); empty: no sweep by mail
sweep_networks =
# how replies read: full (tables as at the prompt), compact (one line per command, its
# first line of output) or short (the result in the fewest words, for a text message);
# empty: as the old reply_format says
reply_style =
# the old name of reply_style (full or compact), read when reply_style is empty
reply_format = full
# a reply holds at most this many bytes; each command's transcript a share of what is left
max_reply_bytes = 65536
# by mail a stream (emeter watch, ping) takes at least this many seconds between rounds
# and at most this many samples
mail_min_interval = 1
mail_max_samples = 600
# seconds for all the commands of one mail together; what did not run is listed
mail_time_budget = 120
# mails from different senders handled at once (one sender's mails always in order)
mail_concurrency = 4
# senders who always get short replies (their mail becomes a text message): fnmatch
# globs, comma separated; Google Voice forwards a text as mail from such an address
sms_senders = *@txt.voice.google.com
# a refused TOTP code (expired, used, wrong) is answered, to the configured address only,
# at most once per sender in this many minutes
totp_notice_minutes = 10

[senders]
# one line per allowed sender: ADDRESS = read | control | admin
"""


@dataclass(frozen=True)
class Paths:
    data: Path
    config_file: Path

    @property
    def devices(self) -> Path:
        return self.data / "devices.db"  # the SQLite device store (kshell.store.devices)

    @property
    def history(self) -> Path:
        return self.data / "history"


def resolve_paths(home: str | None, config: str | None) -> Paths:
    home = home or os.environ.get("KSHELL_HOME")
    if home:
        data = Path(home).expanduser()
        cfg = Path(config).expanduser() if config else data / CONFIG_NAME
        return Paths(data, cfg)
    xdg_data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    xdg_config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    cfg = Path(config).expanduser() if config else xdg_config / "kshell" / CONFIG_NAME
    return Paths(xdg_data / "kshell", cfg)


def load_config(path: Path, *, write_default: bool = True) -> configparser.ConfigParser:
    """Defaults, overlaid with the user's file; the commented default written on first run
    (readable by its owner only: it is where passwords and secrets go)."""
    parser = Config(path)
    parser.read_dict(packaged_defaults())
    if path.exists():
        check_trusted(
            path, "config", f"use a config of your own, or chown it to you and chmod 600 {path}"
        )
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"config {path}: {str(exc).splitlines()[0]}") from None
        check_private_config(path, parser)
    elif write_default:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(DEFAULT_CONFIG)
            parser.first_written = True
        except OSError:
            pass  # a read-only home (or another shell writing it first) still runs on defaults
    return parser


@functools.cache
def packaged_defaults() -> configparser.ConfigParser:
    """The packaged default config, parsed once: the only place a key's default is written."""
    parser = Config()
    parser.read_string(DEFAULT_CONFIG)
    return parser


SECRET_WORDS = ("password", "secret", "token", "passphrase")


def holds_secret(parser: configparser.ConfigParser) -> str | None:
    """Where the config holds a password or secret (``[section] key``), or None."""
    for section in parser.sections():
        for key, value in parser.items(section):
            if not value.strip():
                continue
            named = any(word in key.lower() for word in SECRET_WORDS)
            # a path or a time limit is about a secret, not one
            setting = key.endswith(("_file", "_timeout"))
            if section == "totp" or (named and not setting):
                return f"[{section}] {key}"
            userinfo, at, _ = value.strip().partition("://")[2].partition("@")
            if at and ":" in userinfo and "/" not in userinfo:  # scheme://user:password@host
                return f"[{section}] {key}"
    return None


def check_private_config(path: Path, parser: configparser.ConfigParser) -> None:
    """A config that holds a secret must be readable by its owner only: refused otherwise."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    where = holds_secret(parser) if mode & 0o077 else None
    if where is not None:
        raise UsageError(
            f"config {path} holds a secret ({where}) and others can read it: chmod 600 {path}"
        )


@dataclass(frozen=True)
class Bounds:
    """What a numeric key may hold: finite, within ``low``-``high`` (``low`` itself refused
    when ``above``: a timeout of 0 waits for nothing); a whole number when ``whole``."""

    low: float
    high: float
    above: bool = False
    whole: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = f"{self.low:g}"
        return f"{kind} {'above ' + low + ', up to' if self.above else 'from ' + low + ' to'} {self.high:g}"

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False  # nan compares false with everything: it would pass any range check
        return (value > self.low if self.above else value >= self.low) and value <= self.high


PORT = Bounds(1, 65535, whole=True)
SOME = Bounds(0, 1e9, above=True)  # a key not listed below: finite and positive
# Every numeric key, with what it may hold (seconds unless named otherwise).
NUMBERS: dict[tuple[str, str], Bounds] = {
    ("shell", "timeout"): Bounds(0, 600, above=True),
    ("shell", "history_size"): Bounds(1, 1_000_000, whole=True),
    ("discovery", "port"): PORT,
    ("discovery", "tcp_port"): PORT,
    ("discovery", "tdp_port"): PORT,
    ("discovery", "timeout"): Bounds(0, 120, above=True),
    ("emeter", "interval"): Bounds(0, 86_400),
    ("metrics", "scrape_timeout"): Bounds(0, 300, above=True),
    ("metrics", "min_interval"): Bounds(0, 86_400),
    ("firmware", "poll_interval"): Bounds(0.05, 60),
    ("firmware", "stall_timeout"): Bounds(0, 86_400, above=True),
    ("firmware", "download_timeout"): Bounds(0, 86_400, above=True),
    ("firmware", "reboot_grace"): Bounds(0, 3600),
    ("remote", "unproven_per_hour"): Bounds(1, 1_000_000, whole=True),
    ("remote", "max_commands"): Bounds(1, 1000, whole=True),
    ("remote", "max_message_bytes"): Bounds(1024, 100 * 2**20, whole=True),
    ("remote", "smtp_connections"): Bounds(1, 1024, whole=True),
    ("remote", "idle_refresh"): Bounds(2, 1740),  # below the 30 min a server waits
    ("remote", "max_age_minutes"): Bounds(0.1, 7 * 24 * 60),  # a week at most: never off
    ("remote", "rate_per_hour"): Bounds(1, 1_000_000, whole=True),
    ("remote", "max_reply_bytes"): Bounds(1024, 100 * 2**20, whole=True),
    ("remote", "mail_min_interval"): Bounds(0.1, 86_400),  # never 0: a mail cannot spin
    ("remote", "mail_max_samples"): Bounds(1, 1_000_000, whole=True),
    ("remote", "mail_time_budget"): Bounds(0.5, 24 * 3600),
    ("remote", "mail_concurrency"): Bounds(1, 64, whole=True),
    ("remote", "totp_notice_minutes"): Bounds(1, 7 * 24 * 60),
    ("remote", "secret_command_timeout"): Bounds(0, 300, above=True),
}


class Config(configparser.ConfigParser):
    """The config, knowing the file it was read from, so that an error can name it."""

    def __init__(self, source: Path | None = None) -> None:
        super().__init__(interpolation=None)
        self.source = source
        self.first_written = False  # this run wrote the default file: the first run

    def optionxform(self, optionstr: str) -> str:
        return optionstr  # keep sender addresses as written


def _where(parser: configparser.ConfigParser, section: str, key: str) -> str:
    source = parser.source if isinstance(parser, Config) else None
    return f"{source or CONFIG_NAME} [{section}] {key}"


def text(parser: configparser.ConfigParser, section: str, key: str) -> str:
    """A key's value, stripped; left empty (or absent), the packaged default's. A key the
    packaged defaults lack is a programming error (``configparser.NoOptionError``)."""
    default = packaged_defaults().get(section, key)
    given = parser.get(section, key) if parser.has_option(section, key) else ""
    return given.strip() or default.strip()


def number(
    parser: configparser.ConfigParser, section: str, key: str, bounds: Bounds | None = None
) -> float:
    """The one checked reader of a numeric key: its value, or a UsageError naming the file,
    section and key (a value out of range is refused, never clamped or defaulted)."""
    bounds = bounds or NUMBERS.get((section, key), SOME)
    value_text = text(parser, section, key)
    try:
        value = float(int(value_text)) if bounds.whole else float(value_text)
    except ValueError:
        value = math.nan
    if not bounds.admits(value):
        what = "a port (1-65535)" if bounds is PORT else bounds.describe()
        raise UsageError(f"{_where(parser, section, key)}: '{value_text[:40]}' is not {what}")
    return value


def integer(
    parser: configparser.ConfigParser, section: str, key: str, bounds: Bounds | None = None
) -> int:
    return int(number(parser, section, key, bounds))


def port(parser: configparser.ConfigParser, section: str, key: str) -> int:
    return int(number(parser, section, key, PORT))


def flag(parser: configparser.ConfigParser, section: str, key: str) -> bool:
    """A yes/no key (yes, no, on, off, true, false, 1, 0); anything else is refused."""
    value_text = text(parser, section, key).lower()
    if value_text not in parser.BOOLEAN_STATES:
        raise UsageError(f"{_where(parser, section, key)}: '{value_text[:40]}' is not yes or no")
    return parser.BOOLEAN_STATES[value_text]


def get_list(parser: configparser.ConfigParser, section: str, key: str) -> list[str]:
    return [v.strip() for v in text(parser, section, key).split(",") if v.strip()]
