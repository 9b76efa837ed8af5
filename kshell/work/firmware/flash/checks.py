"""Step 1 of the firmware flow: read each plug and check the image fits it.

A plug that fails a check is never sent anything but ``get_sysinfo``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import refresh
from kshell.errors import KshellError, Refused
from kshell.results import Text
from kshell.work.firmware.flash.plan import SIM_MAGIC, FirmwareError, PlugRun, StageOptions
from kshell.work.firmware.library import ChosenImage
from kshell.work.firmware.staging import choose_local_address
from kshell.work.firmware.version import is_newer


async def check(
    session: Session, target: Target, image: ChosenImage, options: StageOptions
) -> PlugRun:
    """The plug's run through the flow, once it passed every check (or --force)."""
    label = target.label
    if target.child_id:
        raise FirmwareError(
            "check", "an outlet has no firmware of its own: give the strip", target=label
        )
    try:
        device = await refresh(session, target)
    except KshellError as exc:
        raise FirmwareError("check", f"cannot read the plug: {exc.message}", target=label) from None
    label = target.label  # now the plug's alias, as in every later step
    state = device.state
    refusal = device.firmware.staging_refusal
    if refusal:
        raise Refused(f"{refusal} (nothing was sent)", target=label)
    run = PlugRun(target, state.model, state.hw_ver or "?", state.sw_ver or "?")
    if state.updating:
        raise FirmwareError("check", "the plug says it is already updating", target=label)
    address = await plug_ip(target)
    if simulated(image) and not ipaddress.ip_address(address).is_loopback:
        raise Refused(
            f"{image.name} is a demo image for simulated plugs; it is never "
            "sent to a real plug (not even with --force)",
            target=label,
        )
    problems = mismatches(image, run)
    if problems and not options.force:
        raise Refused(
            f"refused: {'; '.join(problems)} (nothing was sent; --force overrides)",
            target=label,
        )
    run.forced = problems
    run.plug_ip = address
    if options.bind:
        run.address, run.route = options.bind, "--bind"
    else:
        run.address, run.route = choose_local_address(address)
    return run


def checked_text(run: PlugRun, image: ChosenImage) -> Text:
    note = f" (forced past: {'; '.join(run.forced)})" if run.forced else ""
    version = image.entry.version if image.entry else "unknown version"
    return Text(
        f"{run.label}: {run.model} hw {run.hw_ver} runs {run.old}; {image.name} is {version}{note}",
        run.data(
            "check",
            model=run.model,
            hw_ver=run.hw_ver,
            sw_ver=run.old,
            image=image.name,
            image_version=version,
            forced=run.forced,
            address=run.address,
            route=run.route,
        ),
    )


def simulated(image: ChosenImage) -> bool:
    entry = image.entry
    return bool(entry and entry.simulator_only) or image.data.startswith(SIM_MAGIC)


def mismatches(image: ChosenImage, run: PlugRun) -> list[str]:
    entry = image.entry
    if entry is None:
        return [
            (
                f"{image.name} is not in the firmware manifest, so its model, "
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


async def plug_ip(target: Target) -> str:
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
