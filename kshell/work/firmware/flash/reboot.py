"""Step 3 of the firmware flow: flash, wait for the reboot, verify the new version.

After the flash the plug must go away and come back; the new ``sw_ver`` is read back.
"""

from __future__ import annotations

import asyncio
import time

from kshell.core.session import Session
from kshell.core.targets import refresh
from kshell.device.device import Device
from kshell.device.state import Info
from kshell.errors import DeviceError, KshellError, TransportError
from kshell.events import Progress
from kshell.results import Text
from kshell.work.firmware.flash.download import Emit
from kshell.work.firmware.flash.plan import FirmwareError, PlugRun, Settings
from kshell.work.firmware.library import ChosenImage
from kshell.work.firmware.version import same_version


async def flash(
    session: Session, run: PlugRun, image: ChosenImage, settings: Settings, emit: Emit
) -> None:
    """Flash, watch the plug go away and come back, read the new version back."""
    target = run.target
    answered = True
    try:
        await run.target.device(session).firmware.flash()
    except DeviceError as exc:
        raise FirmwareError(
            "flash_firmware", f"{exc.message}; the plug keeps {run.old}", target=run.label
        ) from None
    except TransportError:
        answered = False  # it may have started flashing before answering: watch it
    finally:
        target.device(session).close()  # the plug is about to restart
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
    info = await await_reboot(session, run, settings, expected, emit)
    new = info.sw_ver or "?"
    try:
        await refresh(session, target)  # the cache learns the new firmware
    except KshellError:
        pass  # the probe's answer above is proof enough
    if new == run.old:
        raise FirmwareError(
            "verify", f"the plug came back still running {run.old}", target=run.label
        )
    expected_new = image.entry.version if image.entry else "?"
    match = same_version(expected_new, new) if image.entry else None
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


async def await_reboot(
    session: Session, run: PlugRun, settings: Settings, expected: int, emit: Emit
) -> Info:
    """Wait until the plug has gone away and answers again; returns its new state."""
    probe = run.target.probe(session, settings.probe_timeout)
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
            info = await answer_of(probe)
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


async def answer_of(device: Device) -> Info | None:
    """The plug's state, or None while it does not answer."""
    try:
        return await device.update()
    except KshellError:
        device.close()
        return None
