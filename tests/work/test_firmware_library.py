"""The firmware library (manifest, list, add) and Kasa version comparison."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from helpers.shell import ROOT, json_lines, run_shell, write_config

from kshell.errors import UsageError
from kshell.simulator.firmware import MAGIC, make_image, parse_image
from kshell.work.firmware.flash import SIM_MAGIC
from kshell.work.firmware.library import Library, LibraryError, choose_image
from kshell.work.firmware.version import is_newer, parse_version, same_version


@pytest.mark.parametrize(
    "new, old, expected",
    [
        ("1.5.10", "1.5.6 Build 191125 Rel.135516", True),  # 10 > 6: numbers, not text
        ("1.5.6 Build 191125 Rel.135516", "1.5.6 Build 191118 Rel.140307", True),
        ("1.5.6 Build 191125 Rel.135516", "1.5.6 Build 191125 Rel.135517", False),
        ("1.5.6", "1.5.6 Build 191125 Rel.135516", False),  # same release, build unknown
        ("1.0.10 Build 190103 Rel.163517", "1.0.9 Build 200101 Rel.000000", True),
        ("2.0", "1.9.99", True),
        ("1.2.5", "1.5.2", False),
        ("garbage", "1.5.2", None),
    ],
)
def test_newer_versions(new, old, expected):
    assert is_newer(new, old) is expected


def test_version_parsing():
    v = parse_version("1.5.6 Build 191125 Rel.135516")
    assert v is not None and v.numbers == (1, 5, 6) and v.build == 191125 and v.rel == 135516
    assert str(v) == "1.5.6 Build 191125 Rel.135516"
    assert parse_version("1.5") is not None and parse_version("") is None
    assert parse_version(None) is None and parse_version("1.5.6; rm -rf") is None
    assert same_version("1.5.99", "1.5.99 Build 260101 Rel.120000")


def test_add_list_and_unknown_files(tmp_path):
    home = tmp_path / "home"
    lib = tmp_path / "lib"
    write_config(home, extra=f"\n[firmware]\nlibrary = {lib}\n")
    image = tmp_path / "hs110v2.bin"
    image.write_bytes(make_image("HS110(EU)", "2.0", "1.5.10", size=5000))
    lib.mkdir()
    (lib / "stray.bin").write_bytes(b"who put this here")

    added = run_shell(
        home,
        "--json",
        "-c",
        f"firmware add {image} --model 'HS110(EU)' --model hs110(us) --hw 2.0 "
        "--version '1.5.10 Build 230615 Rel.101530'",
    )
    assert added.returncode == 0, added.stderr
    entry = json_lines(added.stdout)[0]
    assert entry["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert entry["models"] == ["HS110(EU)", "HS110(US)"] and entry["hw_versions"] == ["2.0"]
    assert (lib / "hs110v2.bin").read_bytes() == image.read_bytes()
    manifest = json.loads((lib / "manifest.json").read_text())
    assert manifest["images"][0]["file"] == "hs110v2.bin"

    listed = run_shell(home, "--json", "-c", "firmware list")
    assert listed.returncode == 0, listed.stderr
    report = json_lines(listed.stdout)[0]
    status = {i["file"]: i["status"] for i in report["images"]}
    assert status == {"hs110v2.bin": "ok", "stray.bin": "unknown"}

    plain = run_shell(home, "-c", "firmware list")
    assert "unknown: not in the manifest" in plain.stdout and "stray.bin" in plain.stdout

    # registering a file already in the folder, by its name
    again = run_shell(
        home, "-c", "firmware add stray.bin --model KP115(EU) --hw 1.0 --version 1.0.20"
    )
    assert again.returncode == 0, again.stderr
    assert {i["file"] for i in json.loads((lib / "manifest.json").read_text())["images"]} == {
        "hs110v2.bin",
        "stray.bin",
    }

    # the same bytes twice, a bad model and a bad version are refused with one clear line
    dup = run_shell(
        home, "-c", f"firmware add {image} --model 'HS110(EU)' --hw 2.0 --version 1.5.10"
    )
    bad = run_shell(home, "-c", f"firmware add {image} --model 'rm -rf' --hw 2.0 --version 1.5.10")
    ver = run_shell(home, "-c", f"firmware add {image} --model 'HS110(EU)' --hw 2.0 --version soon")
    assert dup.returncode == 1 and "already in the library" in dup.stderr
    assert bad.returncode == 1 and "is not a model" in bad.stderr
    assert ver.returncode == 1 and "is not a firmware version" in ver.stderr
    assert "Traceback" not in dup.stderr + bad.stderr + ver.stderr


def test_listing_flags_a_tampered_or_missing_image(tmp_path):
    lib = Library(tmp_path / "lib")
    src = tmp_path / "a.bin"
    src.write_bytes(b"A" * 100)
    lib.add(src, ["HS100(US)"], ["2.0"], "1.5.7")
    src2 = tmp_path / "b.bin"
    src2.write_bytes(b"B" * 100)
    lib.add(src2, ["HS100(US)"], ["2.0"], "1.5.8")
    (lib.folder / "a.bin").write_bytes(b"X" * 100)
    (lib.folder / "b.bin").unlink()
    listing = lib.listing()
    assert listing.missing == ["b.bin"] and listing.unknown == []
    with pytest.raises(LibraryError, match="does not match the manifest"):
        choose_image(lib, "a.bin")
    with pytest.raises(LibraryError, match="missing"):
        choose_image(lib, "b.bin")


def test_choose_image_by_name_by_path_and_by_hash(tmp_path):
    lib = Library(tmp_path / "lib")
    src = tmp_path / "img.bin"
    src.write_bytes(b"firmware bytes")
    lib.add(src, ["HS100(US)"], ["2.0"], "1.5.7")
    by_name = choose_image(lib, "img.bin")
    by_path = choose_image(lib, str(src))  # a copy elsewhere with the same bytes: known by hash
    assert by_name.entry is not None and by_path.entry == by_name.entry
    other = tmp_path / "elsewhere" / "img.bin"
    other.parent.mkdir()
    other.write_bytes(b"other bytes")
    with pytest.raises(LibraryError, match="does not match"):
        choose_image(lib, str(other))  # same name as a library image, other bytes
    unknown = tmp_path / "new.bin"
    unknown.write_bytes(b"new")
    assert choose_image(lib, str(unknown)).entry is None
    with pytest.raises(UsageError, match=r"no image 'nope\.bin'"):
        choose_image(lib, "nope.bin")
    with pytest.raises(UsageError):
        choose_image(lib, "manifest.json")  # never an image, even though the file exists


def test_a_broken_manifest_is_one_clear_error(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"images": [{"file": "../x", "models": []}]}')
    with pytest.raises(LibraryError, match="plain file name"):
        Library(folder).images()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(LibraryError, match="unreadable"):
        Library(folder).images()


def test_the_checkouts_library_and_its_demo_image_agree():
    """firmware/ ships a manifest whose demo image is a valid simulated image."""
    lib = Library(ROOT / "firmware")
    images = lib.images()
    assert images and all(i.simulator_only for i in images)
    for image in images:
        data = (lib.folder / image.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image.sha256 and len(data) == image.size
        header = parse_image(data)
        assert header is not None and header.model in image.models
        assert header.hw in image.hw_versions and same_version(image.version, header.sw_ver)
    assert SIM_MAGIC == MAGIC
    assert lib.listing().unknown == []


def test_the_library_is_in_the_home_and_a_checkout_only_ships_demo_images(tmp_path, monkeypatch):
    import configparser

    from kshell.work.firmware import library as fwlibrary

    config = configparser.ConfigParser()
    config.read_string("[firmware]\nlibrary =\n")
    assert fwlibrary.library_folder(config, tmp_path) == tmp_path / "firmware"  # a checkout
    assert fwlibrary.shipped_folder() == ROOT / "firmware"
    monkeypatch.setattr(
        fwlibrary,
        "__file__",
        str(tmp_path / "site" / "kshell" / "work" / "firmware" / "library.py"),
    )
    assert fwlibrary.library_folder(config, tmp_path) == tmp_path / "firmware"  # installed
    assert fwlibrary.shipped_folder() is None
    config.set("firmware", "library", str(tmp_path / "mine"))
    assert fwlibrary.library_folder(config, tmp_path) == Path(tmp_path / "mine")


def test_firmware_add_in_a_checkout_writes_to_the_home_never_the_tree(tmp_path):
    home = tmp_path / "home"
    write_config(home)  # no [firmware] library: the default place
    shipped = {p.name: p.read_bytes() for p in (ROOT / "firmware").iterdir()}
    image = tmp_path / "hs110v2.bin"
    image.write_bytes(make_image("HS110(EU)", "2.0", "1.5.10", size=5000))
    try:
        added = run_shell(
            home, "-c", f"firmware add {image} --model 'HS110(EU)' --hw 2.0 --version 1.5.10"
        )
        assert added.returncode == 0, added.stderr
        assert {p.name: p.read_bytes() for p in (ROOT / "firmware").iterdir()} == shipped
        assert (home / "firmware" / "hs110v2.bin").read_bytes() == image.read_bytes()
    finally:  # today's code wrote into the tree: undo it so a failed run leaves no trace
        for name in {p.name for p in (ROOT / "firmware").iterdir()} - set(shipped):
            (ROOT / "firmware" / name).unlink()
        for name, data in shipped.items():
            (ROOT / "firmware" / name).write_bytes(data)
    listed = json_lines(run_shell(home, "--json", "-c", "firmware list").stdout)[0]
    assert [i["file"] for i in listed["images"]] == ["hs110v2.bin"]
    demo = [i["file"] for i in listed["shipped"]]
    assert demo == ["demo-sim-HS110EU-hw2.0-1.5.99.bin"] and listed["shipped"][0]["status"] == "ok"
    plain = run_shell(home, "-c", "firmware list").stdout
    assert "shipped (read-only)" in plain and str(ROOT / "firmware") in plain
    again = run_shell(
        home,
        "-c",
        f"firmware add {ROOT / 'firmware' / demo[0]} --model 'HS110(EU)' --hw 2.0 --version 1.5.99",
    )
    assert again.returncode == 1 and "already in the library" in again.stderr
