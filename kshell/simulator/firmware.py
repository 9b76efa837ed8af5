"""The firmware flow of a simulated plug: download over HTTP, report progress, verify, flash.

What real plugs do (and what is mimicked):

* ``system.download_firmware {"url": ...}`` answers ``err_code 0`` at once, ``https://``
  included; the plug then fetches the image in the background. Plugs cannot fetch over TLS:
  with an ``https://`` URL ``get_download_state`` answers ``err_code -7`` ("unknown error").
* ``system.get_download_state`` answers ``ratio`` (0-100), ``status``, ``flash_time`` and
  ``reboot_time`` (seconds the flash and the reboot take) with ``err_code 0``.
  Simulator ``status`` values: 0 idle, 1 downloading, 2 downloaded (ready to flash).
  A failed download answers ``err_code -7``.
* ``system.flash_firmware`` only works on a completely downloaded, valid image (else
  ``err_code -5``); the plug answers, then stops answering for flash_time + reboot_time and
  comes back with the new ``sw_ver``.

Simulated image format (real images are vendor-signed blobs; ours declare what they are):
the first line is ASCII

    KSHELL-SIM-FW model=HS110(EU) hw=2.0 version=1.5.10 [build=230615] [rel=101530]\\n

followed by any filler bytes. ``model`` and ``hw`` must match the plug (a plug refuses an
image for other hardware); the new ``sw_ver`` reads "1.5.10 Build 230615 Rel.101530". An image
without that header fails to flash with ``err_code -5``.

Downloads go to loopback addresses only (127.0.0.0/8, ::1, "localhost"): the simulator never
sends traffic anywhere else. Images are limited to 16 MiB.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kshell.simulator.faults import Faults

MAGIC = b"KSHELL-SIM-FW "
MAX_IMAGE = 16 * 1024 * 1024
_HEADER_LIMIT = 16 * 1024
_CHUNK = 16 * 1024
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")

STATUS_IDLE = 0
STATUS_DOWNLOADING = 1
STATUS_DOWNLOADED = 2

ERR_UNKNOWN: dict[str, int | str] = {"err_code": -7, "err_msg": "unknown error"}


@dataclass
class FirmwareConfig:
    """Timings of the firmware flow (seconds). Keep them short in tests."""

    flash_time: float = 2.0
    reboot_time: float = 3.0
    download_rate: float | None = 512 * 1024  # bytes/s; None: as fast as the server sends
    download_timeout: float = 30.0
    max_image: int = MAX_IMAGE


@dataclass(frozen=True)
class ImageHeader:
    model: str
    hw: str
    version: str
    build: str
    rel: str

    @property
    def sw_ver(self) -> str:
        return f"{self.version} Build {self.build} Rel.{self.rel}"


def parse_image(data: bytes) -> ImageHeader | None:
    """The header of a simulated image, or None when ``data`` is not one."""
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", 0, 512)
    if end < 0:
        return None
    try:
        line = data[len(MAGIC) : end].decode("ascii")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if not sep:
            return None
        fields[key] = value
    version = fields.get("version", "")
    if not (fields.get("model") and fields.get("hw") and _VERSION.match(version)):
        return None
    digest = hashlib.sha1(version.encode()).hexdigest()
    build = fields.get("build") or "2" + str(int(digest[:6], 16) % 100000).zfill(5)
    rel = fields.get("rel") or str(int(digest[6:12], 16) % 1000000).zfill(6)
    return ImageHeader(fields["model"], fields["hw"], version, build, rel)


def make_image(
    model: str,
    hw: str,
    version: str,
    *,
    size: int = 4096,
    build: str | None = None,
    rel: str | None = None,
) -> bytes:
    """A simulated firmware image of ``size`` bytes (header included)."""
    header = f"KSHELL-SIM-FW model={model} hw={hw} version={version}"
    if build:
        header += f" build={build}"
    if rel:
        header += f" rel={rel}"
    head = (header + "\n").encode("ascii")
    filler = hashlib.sha256(head).digest()
    body = (filler * (max(0, size - len(head)) // len(filler) + 1))[: max(0, size - len(head))]
    return head + body


def _loopback_only(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name we would have to resolve: refuse, never leave the machine


class DownloadJob:
    """One background download started by ``download_firmware``."""

    def __init__(
        self, url: str, config: FirmwareConfig, faults: Faults, source: str | None = None
    ) -> None:
        self.url = url
        self.source = source  # the plug's own address: a real plug fetches from it
        self.config = config
        self.faults = faults
        self.status = STATUS_DOWNLOADING
        self.received = 0
        self.length: int | None = None
        self.failed: str | None = None
        self.data: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def ratio(self) -> int:
        if self.status == STATUS_DOWNLOADED:
            return 100
        if not self.length:
            return 0
        return min(99, self.received * 100 // self.length)

    def start(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http":  # real plugs accept https, then fail: no TLS client
            self.failed = f"unsupported scheme {parts.scheme!r}"
            return
        try:
            self.task = asyncio.get_running_loop().create_task(self._run())
        except RuntimeError:  # no loop: a unit test calling handle() directly
            self.failed = "no event loop"

    def cancel(self) -> None:
        if self.task and not self.task.done():
            self.task.cancel()

    def answer(self) -> dict[str, int | str]:
        """The ``get_download_state`` answer."""
        if self.failed or "fw_download_fail" in self.faults:
            self.failed = self.failed or "download failed"
            self.cancel()
            return dict(ERR_UNKNOWN)
        return {
            "status": self.status,
            "ratio": self.ratio,
            "reboot_time": math.ceil(self.config.reboot_time),
            "flash_time": math.ceil(self.config.flash_time),
            "err_code": 0,
        }

    async def _run(self) -> None:
        try:
            await asyncio.wait_for(self._fetch(), self.config.download_timeout)
        except asyncio.CancelledError:
            self.failed = self.failed or "cancelled"
            raise
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
            self.failed = f"{type(exc).__name__}: {exc}"

    async def _fetch(self) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if not _loopback_only(host):
            raise ValueError(f"refusing to fetch from non-loopback host {host!r}")
        port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        local = (self.source, 0) if self.source else None
        reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        try:
            netloc = f"[{host}]" if ":" in host else host
            writer.write(
                f"GET {path} HTTP/1.0\r\nHost: {netloc}:{port}\r\n"
                "User-Agent: kshell-simulator\r\nAccept: */*\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEADER_LIMIT:
                raise ValueError("HTTP header too large")
            lines = head.decode("latin-1").split("\r\n")
            status = lines[0].split()
            if len(status) < 2 or status[1] != "200":
                raise ValueError(f"HTTP status {lines[0]!r}")
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                raise ValueError("chunked transfer encoding is not supported")
            if "content-length" in headers:
                self.length = int(headers["content-length"])
                if self.length > self.config.max_image:
                    raise ValueError(f"image of {self.length} bytes is too large")
            chunks: list[bytes] = []
            rate = self.config.download_rate
            while self.length is None or self.received < self.length:
                while "fw_stall" in self.faults:
                    await asyncio.sleep(0.05)
                if "fw_download_fail" in self.faults:
                    raise ValueError("download failed (fault)")
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                self.received += len(chunk)
                if self.received > self.config.max_image:
                    raise ValueError("image larger than 16 MiB")
                if rate:
                    await asyncio.sleep(len(chunk) / rate)
            if self.length is not None and self.received < self.length:
                raise ValueError(f"short download: {self.received} of {self.length} bytes")
            self.data = b"".join(chunks)
            self.length = self.received
            self.status = STATUS_DOWNLOADED
        finally:
            writer.close()
