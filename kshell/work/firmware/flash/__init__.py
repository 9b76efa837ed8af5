"""The firmware flow: check, serve, download, confirm, flash, wait for the reboot, verify.

One ``FirmwareFlow`` stages one image to one or more plugs from one transient HTTP server.
It is a Stream of results (one per step), progress and one question (flash?); the
terminal's view draws progress bars (kshell.ui.views.progress), other surfaces print the
steps and every tenth of a download. The steps, one module each: ``checks``, ``download``,
``reboot``; ``plan`` holds what they share.

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

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from functools import partial
from typing import ClassVar

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.events import Confirm, Event, Stream, ViewKind
from kshell.fanin import FanIn
from kshell.results import Failure, Text
from kshell.work.firmware.flash.checks import check, checked_text
from kshell.work.firmware.flash.download import (
    Emit,
    append_log,
    download,
    request_text,
    serving_text,
    stopped_text,
)
from kshell.work.firmware.flash.plan import (
    SIM_MAGIC,
    FirmwareError,
    PlugRun,
    Settings,
    StageOptions,
)
from kshell.work.firmware.flash.reboot import flash
from kshell.work.firmware.library import ChosenImage
from kshell.work.firmware.staging import StagingServer, Transfer

__all__ = ["SIM_MAGIC", "FirmwareError", "FirmwareFlow", "PlugRun", "Settings", "StageOptions"]

Job = Callable[[Emit], Awaitable[None]]


class FirmwareFlow(Stream):
    """The stream ``firmware stage`` returns."""

    view: ClassVar[ViewKind] = "progress"

    def __init__(
        self,
        session: Session,
        targets: list[Target],
        image: ChosenImage,
        options: StageOptions,
        settings: Settings | None = None,
    ) -> None:
        self.session = session
        self.targets = targets
        self.image = image
        self.options = options
        self.settings = settings or Settings.from_config(session)
        self.failed = False
        self.server: StagingServer | None = None
        self._phase_fan: FanIn[Event] | None = None  # where the server's requests go
        self._late: list[Text] = []  # requests heard between phases

    async def events(self) -> AsyncGenerator[Event, None]:
        try:
            async for event in self._run():
                yield event
        finally:
            self._stop_server()

    async def aclose(self) -> None:
        self._stop_server()
        await super().aclose()  # the phase under way cancels its jobs

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _run(self) -> AsyncGenerator[Event, None]:
        runs: list[PlugRun] = []
        async with aclosing(
            self._phase([partial(self._check, t, runs) for t in self.targets])
        ) as s:
            async for item in s:
                yield item
        runs.sort(key=lambda r: self.targets.index(r.target))
        if not runs:
            return
        server = self.server = StagingServer(
            self.image.data,
            self.image.name,
            [r.address for r in runs],
            self.options.port,
            on_request=self._log_request,
        )
        await server.start()
        for run in runs:
            run.url = server.issue(run.label, run.address, client=run.plug_ip or run.target.host)
        yield serving_text(server, self.image, runs)
        if self.options.dry_run:
            for run in runs:
                yield self._plan_text(run)
        async with aclosing(self._phase([partial(self._download, r) for r in runs])) as s:
            async for item in s:
                yield item
        await server.aclose()  # the plugs have what they need: stop serving now
        for text in self._late:
            yield text
        self._late.clear()
        yield stopped_text(server)
        ready = [r for r in runs if r.downloaded]
        if self.options.dry_run:  # the plugs proved they can fetch the image: stop before flashing
            yield self._dry_run_text(runs, ready)
            return
        if not ready:
            return
        question = self._question(ready)
        yield question  # the runner answers it before the flow goes on
        if not question.approved:
            yield Text(
                "cancelled: nothing was flashed; the plugs keep their firmware",
                {"step": "cancelled", "targets": [r.label for r in ready]},
            )
            return
        # aclosing: a stream closed early must cancel the jobs of the phase it was in
        async with aclosing(self._phase([partial(self._flash, r) for r in ready])) as s:
            async for item in s:
                yield item

    async def _phase(self, jobs: list[Job]) -> AsyncGenerator[Event, None]:
        """The jobs of one step, on every plug at once; a plug's failure is its own."""
        fan: FanIn[Event] = FanIn()
        self._phase_fan = fan
        fan.start(partial(job, fan.emit) for job in jobs)
        try:
            async for item in fan.items():
                if isinstance(item, Failure):
                    self.failed = True
                yield item
        finally:
            self._phase_fan = None

    # -- the steps, per plug ----------------------------------------------------------------
    async def _check(self, target: Target, runs: list[PlugRun], emit: Emit) -> None:
        run = await check(self.session, target, self.image, self.options)
        runs.append(run)
        emit(checked_text(run, self.image))

    async def _download(self, run: PlugRun, emit: Emit) -> None:
        assert self.server is not None
        await download(self.session, run, self.server, self.image, self.settings, emit)

    async def _flash(self, run: PlugRun, emit: Emit) -> None:
        await flash(self.session, run, self.image, self.settings, emit)

    def _log_request(self, transfer: Transfer) -> None:
        text = request_text(transfer)
        if self._phase_fan is not None:
            self._phase_fan.emit(text)
        else:
            self._late.append(text)
        append_log(self.session.paths.data, self.image, transfer)

    # -- what the flow says ---------------------------------------------------------------------
    def _question(self, ready: list[PlugRun]) -> Confirm:
        plugs = ", ".join(f"{r.label} ({r.old} -> {self._new_version()})" for r in ready[:5])
        more = f" and {len(ready) - 5} more" if len(ready) > 5 else ""
        return Confirm(
            f"Flash {self.image.name} to {plugs}{more}? (keep them powered)",
            touches=[r.label for r in ready],
        )

    def _new_version(self) -> str:
        return self.image.entry.version if self.image.entry else "?"

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
