"""Firmware: the image library, staging an image to plugs, and a plug's download state.

``firmware stage`` is the whole job the vendor's tools could not do: it serves the image
from this machine over a short-lived HTTP server, has the plug download it, asks, flashes,
waits for the restart and reads the new version back.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import TARGETS_ARG, for_each, resolve_all
from kshell.errors import Refused, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Table, Text


def _library(session: Session) -> Any:
    from kshell.work.firmware.library import open_library

    return open_library(session.config, session.paths.data)


@command(
    "firmware list",
    permission="read",
    examples=("firmware list",),
    by_mail=ByMail.IF_ALLOW_FIRMWARE,
)
async def firmware_list(session: Session, args: Args) -> Result:
    """Show the firmware library: each image, what it is for, and files the manifest lacks.

    The library is the state folder's firmware/ (or [firmware] library); a checkout's
    shipped demo images are listed beside it, read-only.
    """
    from kshell.work.firmware.library import sha256_file

    library = _library(session)
    listing = library.listing()
    rows: list[list[Any]] = []
    data: list[dict[str, Any]] = []
    shipped: list[dict[str, Any]] = []
    for img in listing.images + listing.shipped:
        path = library.path_of(img)
        if not path.is_file():
            status = "missing file"
        else:
            status = "ok" if sha256_file(path) == img.sha256 else "HASH MISMATCH"
        where = "library" if img in listing.images else "shipped (read-only)"
        rows.append(
            [
                img.file,
                ", ".join(img.models),
                ", ".join(img.hw_versions),
                img.version,
                img.size,
                img.sha256[:12],
                status,
                where,
            ]
        )
        (data if img in listing.images else shipped).append({**img.json(), "status": status})
    for name in listing.unknown:
        size = (library.folder / name).stat().st_size
        rows.append([name, "?", "?", "?", size, "", "unknown: not in the manifest", "library"])
        data.append({"file": name, "size": size, "status": "unknown"})
    footer = []
    if library.shipped is not None:
        footer.append(f"shipped demo images (read-only): {library.shipped}")
    if listing.unknown or not listing.images:
        footer.append(
            "add an image: firmware add FILE --model 'HS110(EU)' --hw 2.0 --version 1.5.10"
        )
    return Table(
        ["image", "models", "hw", "version", "bytes", "sha256", "status", "in"],
        rows,
        {
            "library": str(library.folder),
            "images": data,
            "shipped_folder": str(library.shipped) if library.shipped else None,
            "shipped": shipped,
        },
        title=f"firmware library: {library.folder}",
        footer="\n".join(footer) or None,
    )


@command(
    "firmware add",
    args=(Arg("file", "file", "the image file"),),
    options=(
        Opt(
            "--model",
            "str",
            "model with region it is for, e.g. HS110(EU) (repeatable)",
            repeat=True,
        ),
        Opt("--hw", "str", "hardware version it is for, e.g. 2.0 (repeatable)", repeat=True),
        Opt("--version", "str", "its firmware version, e.g. '1.5.10 Build 230615 Rel.101530'"),
        Opt("--note", "str", "a remark kept in the manifest"),
    ),
    permission="admin",
    examples=("firmware add hs110v2_1.5.10.bin --model 'HS110(EU)' --hw 2.0 --version 1.5.10",),
    by_mail=ByMail.IF_ALLOW_FIRMWARE,
)
async def firmware_add(session: Session, args: Args) -> Result:
    """Add an image to the library: copied in, its sha256 computed, recorded in the manifest."""
    if not args.version:
        raise UsageError("firmware add: --version is required (the version the image installs)")
    library = _library(session)
    source = Path(args.file).expanduser()
    if not source.exists() and (library.folder / args.file).is_file():
        source = library.folder / args.file  # registering a file already in the folder
    image = library.add(source, args.model, args.hw, args.version, args.note or "")
    return Text(
        f"added {image.file} ({image.version}; {', '.join(image.models)} hw "
        f"{', '.join(image.hw_versions)}; sha256 {image.sha256[:12]}...) to {library.folder}",
        {"library": str(library.folder), **image.json()},
    )


@command(
    "firmware stage",
    args=(TARGETS_ARG, Arg("image", "image", "a library image's name, or a file path")),
    options=(
        Opt(
            "--dry-run",
            help="check everything and have the plugs download the image; flash nothing",
        ),
        Opt("--bind", "str", "local address the plugs download from (default: chosen per plug)"),
        Opt("--port", "int", "port of the staging server (default: any free port)"),
        Opt(
            "--force",
            help="allow an image for another model, hardware or version, or one "
            "not in the manifest (never a hash mismatch)",
        ),
    ),
    permission="admin",
    confirm="inline",  # asks before flashing, after the download
    examples=(
        "firmware stage Kitchen hs110v2_1.5.10.bin",
        "firmware stage Kitchen Fridge hs110v2_1.5.10.bin --yes",
        "firmware stage 192.168.1.40 ./image.bin --dry-run",
    ),
    long_running=True,
    by_mail=ByMail.IF_ALLOW_FIRMWARE,
)
async def firmware_stage(session: Session, args: Args) -> Any:
    """Serve an image to plugs, have them download it, flash it and verify the new version.

    The image must be in the manifest and fit each plug (model, hardware, newer version)
    unless --force; its sha256 must always match. The HTTP server lives only while the
    plugs download, serves that one image at a secret path per plug, and is stopped
    whatever happens. You are asked before the flash (--yes skips the question).
    --dry-run goes as far as the download (a plug that cannot fetch from this machine, or
    answers -7, fails there) and flashes nothing.
    """
    from kshell.work.firmware.flash import FirmwareFlow, StageOptions
    from kshell.work.firmware.library import choose_image

    if args.bind is not None:
        try:
            bind = ipaddress.ip_address(args.bind)
        except ValueError:
            raise UsageError(
                f"firmware stage: --bind needs an IP address, not '{args.bind}'"
            ) from None
        if bind.is_unspecified or bind.is_multicast:
            raise UsageError(
                f"firmware stage: --bind needs the address the plugs connect to, not {args.bind}"
            )
    if args.port is not None and not 0 <= args.port <= 65535:
        raise UsageError("firmware stage: --port must be 0-65535")
    if not (args.dry_run or args.yes or session.assume_yes or session.ask is not None):
        # say so now, before any plug downloads an image nobody could approve
        raise Refused(
            "firmware stage asks before flashing and nobody can answer here: "
            "add --yes (or --dry-run)"
        )
    targets = resolve_all(session, args.targets)
    image = choose_image(_library(session), args.image)
    if image.entry is None and not args.force:
        raise Refused(
            f"{image.path} is not in the firmware manifest: add it with 'firmware add' "
            "(or --force to serve it unchecked)"
        )
    options = StageOptions(
        force=bool(args.force), dry_run=bool(args.dry_run), bind=args.bind, port=args.port or 0
    )
    return FirmwareFlow(session, targets, image, options)


@command(
    "firmware state",
    args=(TARGETS_ARG,),
    permission="read",
    examples=("firmware state Kitchen",),
    by_mail=ByMail.IF_ALLOW_FIRMWARE,
)
async def firmware_state(session: Session, args: Args) -> list[Result]:
    """A plug's firmware download state: status, progress, flash and reboot times."""

    async def one(target: Target) -> Result:
        state = await target.device(session).firmware.state()
        shown = {
            "status": state.status,
            "ratio": state.ratio,
            "flash_time": state.flash_time,
            "reboot_time": state.reboot_time,
        }
        extra = state.extra
        return Text(
            f"{target.label}: download {shown['status']}, {shown['ratio']}%; flash "
            f"{shown['flash_time']} s, reboot {shown['reboot_time']} s",
            {"target": target.label, "host": target.host, **shown, **extra},
        )

    return await for_each(session, resolve_all(session, args.targets), one)
