"""Step 2 of the firmware flow: serve the image and have each plug download it.

The server serves the hash-checked bytes; a plug counts as downloaded only when it says
so *and* the server really sent it the whole image.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.events import Event, Progress
from kshell.home import open_append
from kshell.results import Text
from kshell.work.firmware.flash.plan import (
    STAGING_LOG,
    FirmwareError,
    PlugRun,
    Settings,
    clamp,
    size,
)
from kshell.work.firmware.library import ChosenImage
from kshell.work.firmware.staging import StagingServer, Transfer

Emit = Callable[[Event], None]


def serving_text(server: StagingServer, image: ChosenImage, runs: list[PlugRun]) -> Text:
    where = ", ".join(sorted({f"{r.address}:{server.port}" for r in runs}))
    return Text(
        f"serving {image.name} ({size(len(image.data))}, sha256 "
        f"{image.sha256[:12]}...) on http://{where}/ to {len(runs)} plug(s)",
        {
            "step": "serve",
            "image": image.name,
            "sha256": image.sha256,
            "size": len(image.data),
            "port": server.port,
            "addresses": sorted({r.address for r in runs}),
            "urls": {r.label: r.url for r in runs},
        },
    )


def request_text(transfer: Transfer) -> Text:
    """One request the server answered, as the operator sees it."""
    who = transfer.plug or "not a plug's path"
    if transfer.method == "-" and transfer.status in (403, 429):
        why = "not a plug being updated" if transfer.status == 403 else "too many connections"
        line = f"server: closed a connection from {transfer.client} at accept ({why})"
    elif transfer.status == 200:
        amount = f"{size(transfer.bytes_sent)} of {size(transfer.size)}"
        how = "complete" if transfer.complete else "incomplete"
        line = f"server: {transfer.method} from {transfer.client} ({who}): 200, {amount} ({how})"
    else:
        line = (
            f"server: {transfer.method} {transfer.path} from {transfer.client}: {transfer.status}"
        )
    return Text(line, {"step": "request", **transfer.json()})


def append_log(folder: Path, image: ChosenImage, transfer: Transfer) -> None:
    """staging.log in the home: which client fetched what, kept after the screen scrolls."""
    entry: dict[str, Any] = {
        "time": time.time(),
        "image": image.name,
        "sha256": image.sha256,
        **transfer.json(),
    }
    try:
        with open(open_append(folder / STAGING_LOG), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
    except OSError:
        pass  # a read-only home must not stop a flash half way


def stopped_text(server: StagingServer) -> Text:
    return Text(
        f"staging server stopped: {len(server.transfers)} request(s), "
        f"{size(server.total_sent)} sent",
        {
            "step": "server_stopped",
            "port": server.port,
            "requests": len(server.transfers),
            "bytes_sent": server.total_sent,
        },
    )


async def download(
    session: Session,
    run: PlugRun,
    server: StagingServer,
    image: ChosenImage,
    settings: Settings,
    emit: Emit,
) -> None:
    """Have the plug fetch the image; progress until the server sent it all, or a clear error."""
    total = len(image.data)
    device = run.target.device(session)
    try:
        await device.firmware.download(run.url)
    except KshellError as exc:
        raise FirmwareError("download_firmware", exc.message, target=run.label) from None
    emit(
        Text(
            f"{run.label}: downloading from {run.url}",
            run.data("download_started", url=run.url),
        )
    )
    started = last_change = time.monotonic()
    last: tuple[int, int] = (-1, -1)
    reported_done_at: float | None = None
    while True:
        await asyncio.sleep(settings.poll_interval)
        try:
            state = await device.firmware.state()
        except KshellError as exc:
            raise FirmwareError(
                "get_download_state",
                f"{exc.message}: the plug could not download the image; nothing was flashed",
                target=run.label,
            ) from None
        ratio = clamp(state.ratio, 0, 100)
        run.flash_time = clamp(state.flash_time, 0, 3600)
        run.reboot_time = clamp(state.reboot_time, 0, 3600)
        sent = server.bytes_sent(run.label)
        now = time.monotonic()
        if (ratio, sent) != last:
            last, last_change = (ratio, sent), now
            milestone = ratio >= 100 or ratio >= run.shown_ratio + 10
            if milestone:
                run.shown_ratio = ratio
            emit(
                Progress(
                    f"{run.label}: downloading {ratio}% ({size(sent)} sent)",
                    run.data("download", ratio=ratio, bytes_sent=sent, size=total),
                    milestone,
                )
            )
        if ratio >= 100:
            if server.complete(run.label):
                break
            reported_done_at = reported_done_at or now
            if now - reported_done_at > max(5.0, 4 * settings.poll_interval):
                raise FirmwareError(
                    "download",
                    f"the plug reports 100% but the server sent it only {size(sent)} of "
                    f"{size(total)}: not flashing an incomplete image",
                    target=run.label,
                )
        if now - last_change > settings.stall_timeout:
            hint = (
                (f"; the plug never fetched the image: can it reach {run.address}? (--bind ADDR)")
                if not server.fetched(run.label)
                else ""
            )
            raise FirmwareError(
                "download",
                f"no progress for {settings.stall_timeout:g} s at {ratio}% "
                f"({size(sent)} sent){hint}; nothing was flashed",
                target=run.label,
            )
        if now - started > settings.download_timeout:
            raise FirmwareError(
                "download",
                f"not finished after {settings.download_timeout:g} s; nothing was flashed",
                target=run.label,
            )
    run.downloaded = True
    emit(
        Text(
            f"{run.label}: downloaded {size(total)}; the server sent the whole image",
            run.data(
                "downloaded", bytes=total, flash_time=run.flash_time, reboot_time=run.reboot_time
            ),
        )
    )
