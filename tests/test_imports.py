"""The shape of the instructor tools: grading never goes back into the release, and no module
imports itself in a loop, the loop through ``nbgrader_config.py`` included (``api.nbgrader_api``
loads it at run time, and it imports the steps it configures)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The modules allowed to import ``instructor.release``: itself, and the command line.
RELEASE_USERS = {"instructor.release", "instructor.__main__"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imports(source: str, name: str) -> set[str]:
    """The course modules that ``source`` (the module ``name``) imports, and ``nbgrader_config``
    where it loads that file by name."""
    found = set()
    package = name.rsplit(".", 1)[0] if "." in name else ""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                base = ".".join(filter(None, [package, base]))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and node.value == "nbgrader_config.py":
            found.add("nbgrader_config")
    return found


def graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Each module's imports among ``sources`` (not itself, nor the packages it sits in)."""
    return {
        name: {
            other
            for other in imports(source, name) & set(sources)
            if other != name and not name.startswith(other + ".")
        }
        for name, source in sources.items()
    }


def course_sources() -> dict[str, str]:
    paths = [*sorted((ROOT / "instructor").glob("*.py")), ROOT / "nbgrader_config.py"]
    sources = {module_name(p): p.read_text() for p in paths}
    sources["instructor"] = sources.pop("instructor.__init__")
    return sources


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import loop in ``edges`` (its modules in order, the first repeated at the end), or []."""
    state = {}  # "open" while on the path, "done" once every module it reaches has been seen

    def visit(node, path):
        state[node] = "open"
        for other in sorted(edges.get(node, ())):
            if state.get(other) == "open":
                return path[path.index(other) :] + [other]
            if other not in state:
                found = visit(other, [*path, other])
                if found:
                    return found
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []


def test_only_the_release_command_imports_the_release():
    edges = graph(course_sources())
    users = {name for name, imported in edges.items() if "instructor.release" in imported}
    assert users <= RELEASE_USERS, f"{sorted(users - RELEASE_USERS)} import instructor.release"


def test_the_instructor_tools_have_no_import_loop():
    edges = graph(course_sources())
    assert cycle(edges) == []
    assert any("nbgrader_config" in imported for imported in edges.values())  # run-time edge seen


@pytest.mark.parametrize(
    ("sources", "loop"),
    [
        (  # feedback taking the API from release: release loads nbgrader_config at run time
            {
                "instructor.release": 'open("nbgrader_config.py")',
                "nbgrader_config": "from instructor.feedback import HideTests",
                "instructor.feedback": "from instructor.release import secret_lines",
            },
            ["instructor.feedback", "instructor.release", "nbgrader_config", "instructor.feedback"],
        ),
        (
            {"instructor.a": "from instructor import b", "instructor.b": "import instructor.a"},
            ["instructor.a", "instructor.b", "instructor.a"],
        ),
        ({"instructor.a": "from instructor import b", "instructor.b": "import os"}, []),
    ],
)
def test_a_loop_is_found_wherever_it_is_made(sources, loop):
    assert cycle(graph(sources)) == loop


def test_a_module_that_imports_the_release_is_named():
    sources = course_sources()
    sources["instructor.grading"] += "\nfrom instructor.release import sha256\n"
    users = {n for n, imported in graph(sources).items() if "instructor.release" in imported}
    assert "instructor.grading" in users - RELEASE_USERS
