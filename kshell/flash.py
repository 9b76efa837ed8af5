"""The firmware flow: check, serve, download, confirm, flash, wait for the reboot, verify.

One ``FirmwareFlow`` stages one image to one or more plugs from one transient HTTP server.
It is a stream of results (one per step) so ``-c`` and ``--json`` print the steps as they
happen; on a terminal ``live_view`` draws a progress bar and a reboot countdown instead.

Safety rules, in the order they apply:

* every plug is checked first (model, hardware, version against the manifest) and a plug
  that fails a check is never sent anything but ``get_sysinfo``;
* the server serves the hash-checked bytes and is closed in a ``finally`` (success, device
  error, Ctrl-C, timeout) and as soon as the downloads are over;
* a plug is flashed only when it says the download is complete *and* the server really sent
  it the whole image; the operator confirms (or ``--yes``) before any flash;
* after the flash the plug must go away and come back; the new ``sw_ver`` is read back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import shutil
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from kshell.config import get_float
from kshell.context import Context
from kshell.device import Device, Info
from kshell.errors import DeviceError, KshellError, Refused, TransportError
from kshell.fwlibrary import ChosenImage
from kshell.fwversion import is_newer, same_version
from kshell.output import Output, clean
from kshell.results import Failure, Result, Text
from kshell.staging import StagingServer, Transfer, choose_local_address
from kshell.targets import Target, refresh

Emit = Callable[[Result], None]
# the first bytes of a simulated image (kshell.simulator.firmware.MAGIC; not imported, so the
# client does not load the simulator): such an image never goes to a plug off loopback
SIM_MAGIC = b"KSHELL-SIM-FW "
STAGING_LOG = "staging.log"


class FirmwareError(KshellError):
    """A step of the flow failed; the message names the step."""

    kind = "firmware"

    def __init__(self, step: str, message: str, *, target: str | None = None) -> None:
        super().__init__(f"{step}: {message}", target=target)
        self.step = step


@dataclass
class Progress(Text):
    """A progress tick (download ratio, reboot countdown): a bar on a terminal."""


@dataclass
class Settings:
    poll_interval: float = 0.5
    stall_timeout: float = 60.0  # seconds without progress before a download is abandoned
    download_timeout: float = 900.0
    reboot_grace: float = 90.0  # seconds beyond the plug's own flash + reboot estimate
    probe_timeout: float = 2.0

    @classmethod
    def from_config(cls, ctx: Context) -> Settings:
        def value(key: str, default: float) -> float:
            return max(0.05, get_float(ctx.config, "firmware", key, default))

        return cls(
            poll_interval=value("poll_interval", 0.5),
            stall_timeout=value("stall_timeout", 60.0),
            download_timeout=value("download_timeout", 900.0),
            reboot_grace=value("reboot_grace", 90.0),
            probe_timeout=min(2.0, ctx.timeout),
        )


@dataclass
class PlugRun:
    """One plug's way through the flow."""

    target: Target
    model: str = ""
    hw_ver: str = ""
    old: str = ""
    address: str = ""
    route: str = ""
    url: str = ""
    flash_time: int = 0
    reboot_time: int = 0
    downloaded: bool = False
    forced: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.target.label

    def data(self, step: str, **more: Any) -> dict[str, Any]:
        return {"step": step, "target": self.label, "host": self.target.host, **more}


@dataclass
class StageOptions:
    force: bool = False
    dry_run: bool = False
    bind: str | None = None
    port: int = 0


class FirmwareFlow:
    """The stream ``firmware stage`` returns."""

    def __init__(
        self,
        ctx: Context,
        args: Any,
        targets: list[Target],
        image: ChosenImage,
        options: StageOptions,
        settings: Settings | None = None,
    ) -> None:
        self.ctx = ctx
        self.args = args
        self.targets = targets
        self.image = image
        self.options = options
        self.settings = settings or Settings.from_config(ctx)
        self.failed = False
        self.server: StagingServer | None = None
        self._queue: asyncio.Queue[Result | None] = asyncio.Queue()
        self._steps: AsyncGenerator[Result, None] | None = None
        self._shown: dict[str, int] = {}  # last ratio printed per plug (plain output)

    # -- the stream protocol ----------------------------------------------------------

    def __aiter__(self) -> FirmwareFlow:
        return self

    async def __anext__(self) -> Result:
        """Plain consumers (pipes, --json) get every step but only every 10% of progress."""
        while True:
            item = await self._next_raw()
            if not isinstance(item, Progress) or self._worth_printing(item):
                return item

    async def _next_raw(self) -> Result:
        if self._steps is None:
            self._steps = self._run()
        try:
            item = await self._steps.__anext__()
        except BaseException:
            self._stop_server()
            raise
        if isinstance(item, Failure):
            self.failed = True
        return item

    async def aclose(self) -> None:
        if self._steps is not None:
            await self._steps.aclose()
        self._stop_server()

    def _worth_printing(self, item: Progress) -> bool:
        data = item.data or {}
        if data.get("step") != "download":
            return False  # countdown ticks are for the live view only
        ratio = int(data.get("ratio", 0))
        last = self._shown.get(data["target"], -10)
        if ratio >= 100 or ratio >= last + 10:
            self._shown[data["target"]] = ratio
            return True
        return False

    async def live_view(self, output: Output) -> None:
        """One redrawn line of bars (or a countdown) between the steps' own lines."""
        bars: dict[str, dict[str, Any]] = {}
        drawn = False
        try:
            while True:
                try:
                    item = await self._next_raw()
                except StopAsyncIteration:
                    break
                if isinstance(item, Progress):
                    data = item.data or {}
                    bars[str(data.get("target"))] = data
                    output.out.write("\r" + _status_line(bars) + "\x1b[K")
                    output.out.flush()
                    drawn = True
                    continue
                if drawn:
                    output.out.write("\r\x1b[K")
                    drawn = False
                data = item.data if isinstance(item, Text) and item.data else {}
                if data.get("step") in ("downloaded", "done"):
                    bars.pop(str(data.get("target")), None)
                output.emit(item)
        finally:
            if drawn:
                output.out.write("\r\x1b[K")
                output.out.flush()

    # -- the flow ------------------------------------------------------------------------

    async def _run(self) -> AsyncGenerator[Result, None]:
        runs: list[PlugRun] = []
        async with aclosing(self._phase([self._checker(t, runs) for t in self.targets])) as steps:
            async for item in steps:
                yield item
        runs.sort(key=lambda r: self.targets.index(r.target))
        if not runs:
            return
        self.server = StagingServer(
            self.image.data,
            self.image.name,
            [r.address for r in runs],
            self.options.port,
            on_request=self._log_request,
        )
        try:
            await self.server.start()
            for run in runs:
                run.url = self.server.issue(run.label, run.address, client=run.target.host)
            yield self._serving_text(runs)
            if self.options.dry_run:
                for run in runs:
                    yield self._plan_text(run)
            async with aclosing(self._phase([self._downloader(r) for r in runs])) as steps:
                async for item in steps:
                    yield item
            await self.server.aclose()  # the plugs have what they need: stop serving now
            while not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is not None:
                    yield queued
            yield self._stopped_text()
        finally:
            self._stop_server()
        ready = [r for r in runs if r.downloaded]
        if self.options.dry_run:  # the plugs proved they can fetch the image: stop before flashing
            yield self._dry_run_text(runs, ready)
            return
        if not ready:
            return
        if not await self._confirm(ready):
            yield Text(
                "cancelled: nothing was flashed; the plugs keep their firmware",
                {"step": "cancelled", "targets": [r.label for r in ready]},
            )
            return
        # aclosing: a stream closed early must cancel the jobs of the phase it was in
        async with aclosing(self._phase([self._flasher(r) for r in ready])) as steps:
            async for item in steps:
                yield item

    async def _phase(
        self, jobs: list[Callable[[Emit], Awaitable[None]]]
    ) -> AsyncGenerator[Result, None]:
        """Run the jobs concurrently, yielding what they emit as it comes.

        A job's KshellError becomes its plug's Failure; the others go on. Leaving early
        (Ctrl-C, the consumer stopped) cancels every job still running.
        """
        queue = self._queue
        done_marker = None

        async def run(job: Callable[[Emit], Awaitable[None]]) -> None:
            try:
                await job(queue.put_nowait)
            except KshellError as exc:
                queue.put_nowait(Failure(exc))
            except Exception as exc:  # noqa: BLE001 - one plug's bug must not hang the others
                bug = KshellError(f"internal error: {type(exc).__name__}: {exc}")
                queue.put_nowait(Failure(bug))
            finally:
                queue.put_nowait(done_marker)

        tasks = [asyncio.create_task(run(job)) for job in jobs]
        remaining = len(tasks)
        try:
            while remaining:
                item = await queue.get()
                if item is done_marker:
                    remaining -= 1
                    continue
                yield item
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.close()

    # -- step 1: check ---------------------------------------------------------------------

    def _checker(self, target: Target, runs: list[PlugRun]) -> Callable[[Emit], Awaitable[None]]:
        async def job(emit: Emit) -> None:
            run = await self._check(target)
            runs.append(run)
            note = f" (forced past: {'; '.join(run.forced)})" if run.forced else ""
            version = self.image.entry.version if self.image.entry else "unknown version"
            emit(
                Text(
                    f"{run.label}: {run.model} hw {run.hw_ver} runs {run.old}; "
                    f"{self.image.name} is {version}{note}",
                    run.data(
                        "check",
                        model=run.model,
                        hw_ver=run.hw_ver,
                        sw_ver=run.old,
                        image=self.image.name,
                        image_version=version,
                        forced=run.forced,
                        address=run.address,
                        route=run.route,
                    ),
                )
            )

        return job

    async def _check(self, target: Target) -> PlugRun:
        label = target.label
        if target.child_id:
            raise FirmwareError(
                "check", "an outlet has no firmware of its own: give the strip", target=label
            )
        try:
            device = await refresh(self.ctx, target)
        except KshellError as exc:
            raise FirmwareError(
                "check", f"cannot read the plug: {exc.message}", target=label
            ) from None
        label = target.label  # now the plug's alias, as in every later step
        state = device.state
        refusal = device.firmware.staging_refusal
        if refusal:
            raise Refused(f"{refusal} (nothing was sent)", target=label)
        run = PlugRun(target, state.model, state.hw_ver or "?", state.sw_ver or "?")
        if state.updating:
            raise FirmwareError("check", "the plug says it is already updating", target=label)
        plug_ip = await _plug_ip(target)
        if self._simulated_image() and not ipaddress.ip_address(plug_ip).is_loopback:
            raise Refused(
                f"{self.image.name} is a demo image for simulated plugs; it is never "
                "sent to a real plug (not even with --force)",
                target=label,
            )
        problems = self._mismatches(run)
        if problems and not self.options.force:
            raise Refused(
                f"refused: {'; '.join(problems)} (nothing was sent; --force overrides)",
                target=label,
            )
        run.forced = problems
        if self.options.bind:
            run.address, run.route = self.options.bind, "--bind"
        else:
            run.address, run.route = choose_local_address(plug_ip)
        return run

    def _simulated_image(self) -> bool:
        entry = self.image.entry
        return bool(entry and entry.simulator_only) or self.image.data.startswith(SIM_MAGIC)

    def _mismatches(self, run: PlugRun) -> list[str]:
        entry = self.image.entry
        if entry is None:
            return [
                (
                    f"{self.image.name} is not in the firmware manifest, so its model, "
                    "hardware and version are unknown"
                )
            ]
        problems = []
        if not entry.fits_model(run.model):
            problems.append(f"the image is for {', '.join(entry.models)}, the plug is {run.model}")
        if not entry.fits_hw(run.hw_ver):
            problems.append(
                f"the image is for hardware {', '.join(entry.hw_versions)}, "
                f"the plug is hardware {run.hw_ver}"
            )
        newer = is_newer(entry.version, run.old)
        if newer is None:
            problems.append(f"cannot compare {entry.version!r} with the plug's {run.old!r}")
        elif not newer:
            problems.append(f"{entry.version} is not newer than the plug's {run.old}")
        return problems

    # -- dry run -----------------------------------------------------------------------------

    def _plan_text(self, run: PlugRun) -> Text:
        return Text(
            f"{run.label}: dry run: the plug downloads {self.image.name} from {run.url} "
            f"({run.route}) to prove it can; {run.old} -> {self._new_version()} is not flashed",
            run.data(
                "plan",
                url=run.url,
                address=run.address,
                route=run.route,
                old=run.old,
                new=self._new_version(),
                forced=run.forced,
            ),
        )

    def _dry_run_text(self, runs: list[PlugRun], ready: list[PlugRun]) -> Text:
        if len(ready) == len(runs):
            text = "dry run: every check passed and every plug downloaded the whole image"
        else:
            failed = ", ".join(r.label for r in runs if r not in ready)
            text = f"dry run: {len(runs) - len(ready)} of {len(runs)} plug(s) failed ({failed})"
        return Text(
            f"{text}; nothing was flashed",
            {
                "step": "dry_run",
                "image": self.image.name,
                "sha256": self.image.sha256,
                "size": len(self.image.data),
                "targets": [r.label for r in runs],
                "downloaded": [r.label for r in ready],
            },
        )

    def _new_version(self) -> str:
        return self.image.entry.version if self.image.entry else "?"

    # -- step 2: serve and download ------------------------------------------------------

    def _serving_text(self, runs: list[PlugRun]) -> Text:
        assert self.server is not None
        where = ", ".join(sorted({f"{r.address}:{self.server.port}" for r in runs}))
        return Text(
            f"serving {self.image.name} ({_size(len(self.image.data))}, sha256 "
            f"{self.image.sha256[:12]}...) on http://{where}/ to {len(runs)} plug(s)",
            {
                "step": "serve",
                "image": self.image.name,
                "sha256": self.image.sha256,
                "size": len(self.image.data),
                "port": self.server.port,
                "addresses": sorted({r.address for r in runs}),
                "urls": {r.label: r.url for r in runs},
            },
        )

    def _log_request(self, transfer: Transfer) -> None:
        who = transfer.plug or "not a plug's path"
        if transfer.status == 200:
            amount = f"{_size(transfer.bytes_sent)} of {_size(transfer.size)}"
            how = "complete" if transfer.complete else "incomplete"
            line = (
                f"server: {transfer.method} from {transfer.client} ({who}): 200, {amount} ({how})"
            )
        else:
            line = (
                f"server: {transfer.method} {transfer.path} from {transfer.client}: "
                f"{transfer.status}"
            )
        self._queue.put_nowait(Text(line, {"step": "request", **transfer.json()}))
        self._append_log(
            {
                "time": time.time(),
                "image": self.image.name,
                "sha256": self.image.sha256,
                **transfer.json(),
            }
        )

    def _append_log(self, entry: dict[str, Any]) -> None:
        """staging.log in the home: which client fetched what, kept after the screen scrolls."""
        try:
            with (self.ctx.paths.data / STAGING_LOG).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
        except OSError:
            pass  # a read-only home must not stop a flash half way

    def _stopped_text(self) -> Text:
        assert self.server is not None
        server = self.server
        return Text(
            f"staging server stopped: {len(server.transfers)} request(s), "
            f"{_size(server.total_sent)} sent",
            {
                "step": "server_stopped",
                "port": server.port,
                "requests": len(server.transfers),
                "bytes_sent": server.total_sent,
            },
        )

    def _downloader(self, run: PlugRun) -> Callable[[Emit], Awaitable[None]]:
        async def job(emit: Emit) -> None:
            await self._download(run, emit)

        return job

    async def _download(self, run: PlugRun, emit: Emit) -> None:
        assert self.server is not None
        server, settings, size = self.server, self.settings, len(self.image.data)
        device = run.target.device(self.ctx)
        try:
            await device.firmware.download(run.url)
        except KshellError as exc:
            raise FirmwareError("download_firmware", _why(exc), target=run.label) from None
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
                    f"{_why(exc)}: the plug could not download the image; nothing was flashed",
                    target=run.label,
                ) from None
            ratio = _int(state.ratio, 0, 100)
            run.flash_time = _int(state.flash_time, 0, 3600)
            run.reboot_time = _int(state.reboot_time, 0, 3600)
            sent = server.bytes_sent(run.label)
            now = time.monotonic()
            if (ratio, sent) != last:
                last, last_change = (ratio, sent), now
                emit(
                    Progress(
                        f"{run.label}: downloading {ratio}% ({_size(sent)} sent)",
                        run.data("download", ratio=ratio, bytes_sent=sent, size=size),
                    )
                )
            if ratio >= 100:
                if server.complete(run.label):
                    break
                reported_done_at = reported_done_at or now
                if now - reported_done_at > max(5.0, 4 * settings.poll_interval):
                    raise FirmwareError(
                        "download",
                        f"the plug reports 100% but the server sent it only {_size(sent)} of "
                        f"{_size(size)}: not flashing an incomplete image",
                        target=run.label,
                    )
            if now - last_change > settings.stall_timeout:
                hint = (
                    (
                        f"; the plug never fetched the image: can it reach {run.address}? "
                        "(--bind ADDR)"
                    )
                    if not server.fetched(run.label)
                    else ""
                )
                raise FirmwareError(
                    "download",
                    f"no progress for {settings.stall_timeout:g} s at {ratio}% "
                    f"({_size(sent)} sent){hint}; nothing was flashed",
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
                f"{run.label}: downloaded {_size(size)}; the server sent the whole image",
                run.data(
                    "downloaded", bytes=size, flash_time=run.flash_time, reboot_time=run.reboot_time
                ),
            )
        )

    # -- step 3: confirm, flash, reboot, verify -----------------------------------------------

    async def _confirm(self, ready: list[PlugRun]) -> bool:
        from kshell.runner import confirmed

        plugs = ", ".join(f"{r.label} ({r.old} -> {self._new_version()})" for r in ready[:5])
        more = f" and {len(ready) - 5} more" if len(ready) > 5 else ""
        question = f"Flash {self.image.name} to {plugs}{more}? (keep them powered)"
        return await confirmed(self.ctx, self.args, question)

    def _flasher(self, run: PlugRun) -> Callable[[Emit], Awaitable[None]]:
        async def job(emit: Emit) -> None:
            await self._flash(run, emit)

        return job

    async def _flash(self, run: PlugRun, emit: Emit) -> None:
        target, ctx = run.target, self.ctx
        answered = True
        try:
            await run.target.device(ctx).firmware.flash()
        except DeviceError as exc:
            raise FirmwareError(
                "flash_firmware", f"{_why(exc)}; the plug keeps {run.old}", target=run.label
            ) from None
        except TransportError:
            answered = False  # it may have started flashing before answering: watch it
        finally:
            target.device(ctx).close()  # the plug is about to restart
        expected = run.flash_time + run.reboot_time
        emit(
            Text(
                f"{run.label}: flashing"
                + ("" if answered else " (no answer to flash_firmware)")
                + f"; the plug should be back in about {expected} s "
                f"(flash {run.flash_time} s + reboot {run.reboot_time} s)",
                run.data(
                    "flash",
                    flash_time=run.flash_time,
                    reboot_time=run.reboot_time,
                    answered=answered,
                ),
            )
        )
        info = await self._await_reboot(run, expected, emit)
        new = info.sw_ver or "?"
        try:
            await refresh(ctx, target)  # the cache learns the new firmware
        except KshellError:
            pass  # the probe's answer above is proof enough
        if new == run.old:
            raise FirmwareError(
                "verify", f"the plug came back still running {run.old}", target=run.label
            )
        expected_new = self._new_version()
        match = same_version(expected_new, new) if self.image.entry else None
        warning = "" if match is not False else f" (expected {expected_new})"
        emit(
            Text(
                f"{run.label}: firmware {run.old} -> {new}{warning}",
                run.data(
                    "done",
                    old=run.old,
                    new=new,
                    expected=expected_new,
                    matches_manifest=match,
                    hw=info.hw_ver or None,
                ),
            )
        )

    async def _await_reboot(self, run: PlugRun, expected: int, emit: Emit) -> Info:
        """Wait until the plug has gone away and answers again; returns its new state."""
        settings = self.settings
        probe = run.target.probe(self.ctx, settings.probe_timeout)
        start = time.monotonic()
        limit = expected + settings.reboot_grace
        went_down = False
        try:
            while True:
                elapsed = time.monotonic() - start
                emit(
                    Progress(
                        f"{run.label}: rebooting, about {max(0, round(expected - elapsed))} s left",
                        run.data(
                            "reboot",
                            remaining=max(0, round(expected - elapsed)),
                            elapsed=round(elapsed, 1),
                            offline=went_down,
                        ),
                    )
                )
                info = await _probe(probe)
                if info is None and not went_down:
                    went_down = True
                    emit(Text(f"{run.label}: offline (restarting)", run.data("offline")))
                elif info is not None and (went_down or info.sw_ver != run.old):
                    seconds = round(time.monotonic() - start, 1)
                    emit(
                        Text(
                            f"{run.label}: back online after {seconds} s",
                            run.data("online", seconds=seconds),
                        )
                    )
                    return info
                if time.monotonic() - start > limit:
                    if went_down:
                        raise FirmwareError(
                            "reboot",
                            f"the plug did not come back within {limit:g} s; "
                            "check it is powered, then read its firmware with 'hw_info'",
                            target=run.label,
                        )
                    raise FirmwareError(
                        "reboot",
                        f"the plug never restarted within {limit:g} s and still runs {run.old}",
                        target=run.label,
                    )
                await asyncio.sleep(settings.poll_interval)
        finally:
            probe.close()


async def _plug_ip(target: Target) -> str:
    """The plug's IPv4 address (a host name is resolved: routes are chosen per address)."""
    try:
        ipaddress.IPv4Address(target.host)
        return target.host
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise FirmwareError(
            "check", f"cannot resolve {target.host}: {exc}", target=target.label
        ) from None
    return str(infos[0][4][0])


async def _probe(device: Device) -> Info | None:
    """The plug's state, or None while it does not answer."""
    try:
        return await device.update()
    except KshellError:
        device.close()
        return None


def _why(exc: KshellError) -> str:
    return exc.message


def _int(value: Any, low: int, high: int) -> int:
    """A number a plug reported, clamped into a sane range (what it says is untrusted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return low
    return max(low, min(high, int(value)))


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} B"


def _status_line(bars: dict[str, dict[str, Any]]) -> str:
    """The live line: a bar per plug (up to three), else one summary."""
    width = shutil.get_terminal_size((80, 24)).columns - 1
    items = list(bars.items())
    if not items:
        return ""
    if len(items) <= 3:
        parts = [_one_bar(label, data, 20 if len(items) == 1 else 10) for label, data in items]
        return clean(" | ".join(parts), width)
    downloading = [d for _, d in items if d.get("step") == "download"]
    rebooting = [d for _, d in items if d.get("step") == "reboot"]
    line = ""
    if downloading:
        mean = sum(int(d.get("ratio", 0)) for d in downloading) / len(downloading)
        line += f"downloading {len(downloading)} plugs: {_bar(mean, 20)} {mean:.0f}% avg"
    if rebooting:
        line += ("; " if line else "") + f"{len(rebooting)} plugs rebooting"
    return clean(line, width)


def _one_bar(label: str, data: dict[str, Any], width: int) -> str:
    if data.get("step") == "reboot":
        left = int(data.get("remaining", 0))
        if left > 0:
            return f"{label}: rebooting, {left} s left"
        return f"{label}: rebooting, waiting ({data.get('elapsed', 0):.0f} s)"
    ratio = int(data.get("ratio", 0))
    return f"{label} {_bar(ratio, width)} {ratio:3d}%"


def _bar(ratio: float, width: int) -> str:
    filled = round(width * max(0.0, min(100.0, ratio)) / 100)
    return "[" + "#" * filled + "-" * (width - filled) + "]"
