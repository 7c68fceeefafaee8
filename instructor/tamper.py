"""Tamper flags: what a submission's own code does that honest code for this course has no need of.

``flags(notebook)`` reads (never runs) the code cells a student wrote: solution cells and cells
they added; read-only cells are restored from the gradebook before grading, so they do not count.
It flags code that

- rebinds or deletes attributes of ``torch``, ``numpy``, ``builtins``, ``unittest``, ``math`` or
  ``course_utils``, under any alias (``import torch as t; t.allclose = ...``, ``setattr(t, ...)``,
  ``vars(t)[...] = ...``, names imported from them such as ``from torch import testing``);
- patches or mocks (``unittest.mock``, ``mock``, ``monkeypatch``, ``patch(...)``);
- reaches into the import machinery or the interpreter (``sys.modules``, ``sys.meta_path``,
  ``importlib``, ``__import__``, ``__builtins__``, ``sys.settrace``/``setprofile``/``audit``,
  ``gc``, ``inspect``, ``linecache``, frames and closures, ``ctypes``, the kernel guard
  ``_course_guard``) or into the kernel that runs the tests (``get_ipython()``: its input and AST
  transformers, exception handlers, display hooks and ``ex``);
- defines a class that redefines how it compares (``__eq__``, ``__bool__``,
  ``__torch_function__``...): a fake answer that equals whatever a test expects;
- runs code built from strings (``exec``, ``eval``, ``compile``), or shell commands and magics;
- opens paths outside its folder (an absolute path, ``~`` or ``..`` in a string it passes);
- opens network connections or processes (``socket``, ``subprocess``, ``os.system``...).

A flag is not a failure: the grades CSV and the console show it, and the instructor reviews.
"""

import ast

from IPython.core.inputtransformer2 import TransformerManager

from instructor.cells import cell_name, is_locked

PROTECTED = {"torch", "numpy", "builtins", "unittest", "math", "course_utils"}
#: Names the chapters' read-only cells bind to protected modules (``import numpy as np`` ...).
DEFAULT_ALIASES = {
    "torch": "torch",
    "np": "numpy",
    "numpy": "numpy",
    "nn": "torch",
    "F": "torch",
    "math": "math",
    "builtins": "builtins",
    "unittest": "unittest",
    "course_utils": "course_utils",
}
MOCKING = {"mock", "unittest.mock", "pytest", "_pytest"}
MACHINERY = {"importlib", "gc", "inspect", "ctypes", "_course_guard", "imp", "pkgutil"}
MACHINERY |= {"linecache", "_thread"}
PROCESSES = {"socket", "subprocess", "multiprocessing", "http", "urllib", "requests", "pty"}
SYS_HOOKS = {"modules", "meta_path", "path_hooks", "settrace", "setprofile", "addaudithook"}
SYS_HOOKS |= {"audit", "_getframe", "_current_frames", "displayhook", "excepthook"}
#: Attributes that reach a function's or a frame's insides (the guard's memory, a caller's code).
INTERNALS = {"__dict__", "__globals__", "__code__", "__subclasses__", "__closure__"}
INTERNALS |= {"f_back", "f_globals", "f_locals", "f_code", "tb_frame", "gi_frame"}
#: Methods that make any object compare as whatever a test expects (a fake answer).
COMPARISON_HOOKS = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__"}
COMPARISON_HOOKS |= {"__instancecheck__", "__array_ufunc__", "__array_function__"}
OS_ESCAPES = {"system", "popen", "fork", "forkpty", "execv", "execve", "execl", "spawnv", "kill"}
DYNAMIC = {"exec", "eval", "compile", "__import__"}


def student_cells(notebook) -> list[tuple[str, str]]:
    """(name, source) of each code cell the student wrote: not read-only ones."""
    cells = enumerate(notebook.cells)
    return [
        (cell_name(c, i), c.source) for i, c in cells if c.cell_type == "code" and not is_locked(c)
    ]


def root_name(node) -> str | None:
    """``t`` for ``t.testing.assert_close``, ``vars(t)`` or ``t.__dict__``; None otherwise."""
    while True:
        if isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("vars", "getattr")
            and node.args
        ):
            node = node.args[0]
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def dotted(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover (unparse handles every parsed node)
        return "?"


def suspicious_path(value) -> bool:
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 300:
        return False
    parts = value.replace("\\", "/").split("/")
    return value.startswith(("/", "~")) or ".." in parts


class Finder(ast.NodeVisitor):
    """Walks the student's cells in order, collecting flags as ``"<cell>: <what>"``."""

    def __init__(self):
        self.aliases = dict(DEFAULT_ALIASES)
        self.sys_names = {"sys"}  # import sys as s
        self.found = []
        self.cell = "?"

    def flag(self, text):
        text = f"{self.cell}: {text}"
        if text not in self.found:
            self.found.append(text)

    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(alias.name)
            top = alias.name.split(".")[0]
            if alias.name == "sys":
                self.sys_names.add(alias.asname or "sys")
            if top in PROTECTED:
                self.aliases[alias.asname or top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.check_module(module)
        top = module.split(".")[0]
        for alias in node.names:
            self.check_module(f"{module}.{alias.name}")
            if alias.name in ("patch", "monkeypatch", "MagicMock", "Mock"):
                self.flag(f"imports {alias.name} (patching or mocking)")
            if top in PROTECTED:
                self.aliases[alias.asname or alias.name] = top
            if module == "sys" and alias.name in SYS_HOOKS:
                self.flag(f"imports sys.{alias.name} (the import machinery or interpreter hooks)")
            if module == "os" and alias.name in OS_ESCAPES:
                self.flag(f"imports os.{alias.name} (runs processes)")
        self.generic_visit(node)

    def check_module(self, name):
        if name in MOCKING or name.startswith("unittest.mock"):
            self.flag(f"imports {name} (patching or mocking)")
        elif name.split(".")[0] in MACHINERY:
            self.flag(f"imports {name} (the import machinery or interpreter internals)")
        elif name.split(".")[0] in PROCESSES:
            self.flag(f"imports {name} (network or processes)")

    def check_target(self, target, verb):
        if isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.check_target(element, verb)
            return
        if isinstance(target, ast.Attribute | ast.Subscript):
            root = root_name(target)
            if root in self.aliases:
                self.flag(f"{verb} {dotted(target)} ({self.aliases[root]})")
            elif root == "__builtins__":
                self.flag(f"{verb} {dotted(target)} (builtins)")

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(target, "rebinds")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node.target, "rebinds")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node.target, "rebinds")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_target(target, "deletes")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in ("__builtins__", "_course_guard", "monkeypatch"):
            self.flag(f"uses {node.id}")
        if node.id == "get_ipython":
            self.flag("uses get_ipython() (the kernel that runs the tests: its hooks, exec)")
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for item in node.body:
            names = []
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [item.name]
            elif isinstance(item, ast.Assign):
                names = [t.id for t in item.targets if isinstance(t, ast.Name)]
            for name in sorted(set(names) & COMPARISON_HOOKS):
                self.flag(f"class {node.name} redefines {name} (a fake answer compares as asked)")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name):
            if node.value.id in self.sys_names and node.attr in SYS_HOOKS:
                self.flag(f"uses sys.{node.attr} (the import machinery or interpreter hooks)")
            if node.value.id == "os" and node.attr in OS_ESCAPES:
                self.flag(f"uses os.{node.attr} (runs processes)")
        if node.attr in INTERNALS:
            self.flag(f"uses {dotted(node)} (interpreter internals)")
        self.generic_visit(node)

    def visit_Call(self, node):
        function = node.func
        name = function.id if isinstance(function, ast.Name) else None
        if name in DYNAMIC:
            self.flag(f"calls {name}() (code built from strings or the import machinery)")
        if name in ("setattr", "delattr") and node.args:
            if root_name(node.args[0]) in self.aliases:
                self.flag(
                    f"calls {name}({dotted(node.args[0])}, ...) ({self.aliases[root_name(node.args[0])]})"
                )
        if name in ("patch", "MagicMock", "Mock") or (
            isinstance(function, ast.Attribute)
            and function.attr in ("patch", "setattr")
            and root_name(function) in ("mock", "monkeypatch", "unittest")
        ):
            self.flag(f"calls {dotted(function)}() (patching or mocking)")
        if isinstance(function, ast.Attribute) and function.attr in (
            "system",
            "run_line_magic",
            "run_cell_magic",
            "getoutput",
        ):
            if (
                isinstance(function.value, ast.Call)
                and dotted(function.value.func) == "get_ipython"
            ):
                self.flag(f"runs a shell command or magic ({dotted(node)[:60]})")
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            if isinstance(argument, ast.Constant) and suspicious_path(argument.value):
                self.flag(f"uses a path outside its folder: {argument.value[:60]!r}")
        self.generic_visit(node)


def parse(source: str):
    """The cell's syntax tree (IPython syntax allowed); None if it does not parse."""
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):  # reported by grading itself
        return None


def flags(notebook) -> list[str]:
    """``"<cell>: <what>"`` for every tamper flag in the code the student wrote.

    The cells are read in order with one alias table, so an alias made in one cell counts in the
    next.
    """
    finder = Finder()
    for name, source in student_cells(notebook):
        tree = parse(source)
        if tree is not None:
            finder.cell = name
            finder.visit(tree)
    return finder.found
