"""The documents hold: what they cite exists in the repository.

docs/architecture.md names modules and the functions in them (``path.py`` then ``Name``):
each path must exist and each name be defined there, so a rename that leaves the flows
stale fails here. Every ``*.md`` the code, the tests or the documents cite must be a file
of the repository (the design notes outside it are not). The README's layout shows every
package of ``kshell/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SOURCES = ("kshell", "commands", "history", "tests", "bench")
# `kshell/ui/runner.py` `run_line`, `commands/power.py` `on`, `app.py` `Shell.run`
PATH = r"(?:kshell|commands|history|tests|bench|docs)/[\w/.]*"
CITED = re.compile(rf"`({PATH}\.py)`\s+`([\w.]+)")
PATHS = re.compile(rf"`({PATH})`")
MARKDOWN = re.compile(r"(?<![\w/.-])((?:\.\./)*[\w/.-]*\b[A-Z]?[\w-]+\.md)\b")


def defined(path: Path) -> set[str]:
    """Top-level names of a module, and Class.member for its classes."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for inner in node.body:
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{inner.name}")
                elif isinstance(inner, ast.AnnAssign | ast.Assign):
                    targets = [inner.target] if isinstance(inner, ast.AnnAssign) else inner.targets
                    names |= {f"{node.name}.{t.id}" for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_every_path_the_architecture_names_exists() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = sorted({p for p in PATHS.findall(text) if not (ROOT / p).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_function_the_flows_name_is_defined_where_they_say() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    cited = CITED.findall(text)
    assert len(cited) > 40  # the three flows are told with function names
    wrong = [
        f"{path} {name}"
        for path, name in cited
        if (ROOT / path).exists() and name not in defined(ROOT / path)
    ]
    assert not wrong, f"docs/architecture.md names what its module does not define: {wrong}"


def test_the_architecture_has_a_paragraph_per_layer() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = sorted(p.name for p in (ROOT / "kshell").iterdir() if (p / "__init__.py").exists())
    headings = " ".join(re.findall(r"\*\*(.+?)\*\*", text))
    missing = [name for name in [*packages, "commands", "history"] if f"{name}/" not in headings]
    assert not missing, f"no layer paragraph for {missing}"


def markdown_cited() -> list[tuple[str, str]]:
    files = [p for folder in SOURCES for p in (ROOT / folder).rglob("*.py")]
    files += [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")]
    found = []
    for path in files:
        if "node_modules" in path.parts or ".venv" in path.parts:
            continue
        for name in MARKDOWN.findall(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), name))
    return found


def resolves(citing: str, name: str) -> bool:
    here = (ROOT / citing).parent
    bare = Path(name).name
    return any(
        candidate.exists()
        for candidate in (ROOT / name, here / name, ROOT / bare, ROOT / "docs" / bare)
    )


def test_every_markdown_file_cited_is_in_the_repository() -> None:
    cited = markdown_cited()
    assert cited  # the docstrings do point at documents
    outside = sorted({f"{where}: {name}" for where, name in cited if not resolves(where, name)})
    assert not outside, f"cited but not in the repository: {outside}"


def layout_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


@pytest.mark.parametrize(
    "package", sorted(p.name for p in (ROOT / "kshell").iterdir() if (p / "__init__.py").exists())
)
def test_the_readme_layout_shows_each_package(package: str) -> None:
    assert f"{package}/" in layout_block()


def readme_commands() -> list[str]:
    """The README's quick-start command lines (the ``sh`` blocks of its Quick start)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```sh\n")[1:]
    return [b.split("```", 1)[0].strip() for b in blocks]


def test_the_quick_start_makes_its_own_virtualenv_and_says_which_python() -> None:
    """On Debian 12 and Raspberry Pi OS a bare pip install is refused (PEP 668): both
    commands make and enter a venv first, and the README names the Python they need."""
    commands = readme_commands()
    demo = next(c for c in commands if "--demo" in c)
    tests = next(c for c in commands if "pytest" in c)
    for line in (demo, tests):
        assert line.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11 or newer" in readme
    # CI runs the README's test command exactly
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
