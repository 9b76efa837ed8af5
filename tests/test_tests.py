"""The suite's own shape: a test file imports shared code from tests/helpers/, never from
another test file or from conftest (which pytest loads as a plugin, not as a library)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def forbidden_imports(source: str) -> list[str]:
    """The modules a test file's source imports that are test files or conftest."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            last = name.rpartition(".")[2]
            if last.startswith("test_") or last == "conftest":
                found.append(name)
    return found


def test_no_test_file_imports_another_test_file_or_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): bad
        for path in sorted(TESTS.rglob("test_*.py"))
        if "peer" not in path.relative_to(TESTS).parts
        and (bad := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "move shared code into tests/helpers/: " + repr(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "from test_remote_maildir import make_mail\n",
        "def f():\n    from test_repl_pty import Terminal\n",
        "import test_simulator\n",
        "from conftest import run_shell\n",
        "from app.remote.test_remote_imap import listen\n",
    ],
)
def test_the_check_catches_an_import_of_a_test_file(source: str) -> None:
    assert forbidden_imports(source)


def test_the_check_leaves_helpers_alone() -> None:
    source = "from helpers.mail import make_mail\nimport pytest\nfrom kshell.store import names\n"
    assert forbidden_imports(source) == []


def test_every_test_file_has_a_name_of_its_own() -> None:
    """Test folders are not packages, so pytest imports each file by its base name: two
    files of one name in two folders would clash."""
    names = [path.name for path in TESTS.rglob("test_*.py") if "peer" not in path.parts]
    assert sorted(names) == sorted(set(names))


def test_soak_tests_are_deselected_from_the_suite_and_ci_runs_them_apart() -> None:
    import configparser
    import shlex

    config = configparser.ConfigParser()
    config.read(TESTS.parent / "setup.cfg")
    pytest_ini = config["tool:pytest"]
    assert "soak:" in pytest_ini["markers"]
    assert shlex.split(pytest_ini["addopts"])[-2:] == ["-m", "not soak"]
    ci = (TESTS.parent / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    suite = ci.index(
        'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" '
        "&& tests/peers.sh && python -m pytest"
    )
    assert "python -m pytest -m soak" in ci[suite + 1 :]
