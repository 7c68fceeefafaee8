"""Kernel-side guard: snapshot what the tests rely on before any student cell, restore it later.

The grading kernel imports this module at start-up (``IPKernelApp.exec_lines``), before the first
cell runs. It records

- the attributes of the modules that tests check with (``torch.allclose``, ``builtins.isinstance``,
  every ``course_utils`` submodule, ``sys.setprofile`` ...), the code and defaults of those that
  are Python functions, and the methods of the classes whose methods tests call
  (``torch.Tensor.__eq__``);
- the kernel's hooks into every cell: IPython's input and AST transformers, its custom exception
  handler (``set_custom_exc``), display hook, display publisher, event callbacks and the methods of
  the shell and of the objects it sends results through.

Before every test cell and after it, the grader asks the guard to **restore** all that: every
rebound or deleted attribute is put back, every method added over an inherited one
(``torch.Tensor.__eq__ = ...``) is removed, every hook a student installed is taken out. Fake
answers are defused: a class made in the notebook that redefines a comparison (a ``tuple``,
``int`` or ``torch.Tensor`` subclass whose ``__eq__``, ``allclose`` or ``__torch_function__``
always says yes, or any class whose ``__eq__`` does) loses that redefinition, so that its
instances compare as what they are. We chose this over converting every result in every test
cell (``tuple(result)``, ``torch.Tensor(result)``): one mechanism covers the dozens of asserts of
the chapters, those still to be written, and comparisons that no conversion reaches
(``torch.equal(fake, expected)`` dispatches to the fake's ``__torch_function__``). The grader also
tells the guard which names the notebook's read-only cells defined (``own_work``, helpers); those
are put back too. Each restore returns what it found, which the grader flags.

Where the snapshot lives, and why there. Student code runs in this very interpreter and can reach
any module global (``get_ipython().ex(...)`` runs code the static flags never read), so the
snapshot is no module global: it lives only in the closure of an audit hook
(``sys.addaudithook``), which Python cannot remove and which holds the only reference to it.
Reaching a closure without a reference takes ``gc.get_referrers`` and the like, which the hook
sees (audit events) and reports; adding a second audit hook, which would see the grader's
requests, is refused once grading has started. The guard reads classes and modules through
``type``'s own descriptors, so no code of the notebook's runs while it works. The grader reaches
it through the audit event ``course_guard``: once before the first cell (``start``: the guard
hands the grader a random key, only once, and how long its imports and snapshot took, for the
bench), then for each ``restore`` with a fresh nonce; the answer carries an HMAC of the nonce and
the findings under that key. So a student who replaces
the guard or ``sys.audit`` can silence it or change its answer, but not without the grader
noticing (a missing or forged answer): that is flagged and the points of the tests after it are
withheld. A second, clean interpreter that imports the student's definitions would be stronger
still, but the chapters' tests share live models, tensors and closures with the solution cells,
which cannot cross a process boundary faithfully; that is why the guard stays in the kernel and
is verified from the grader's side. What it cannot stop: code that rewrites the interpreter's
memory (``ctypes``), or wraps every entry point to undo its tampering around each request; the
static flags (instructor/tamper.py) report the means such code needs.

Runs inside the student's kernel with no dependency on the ``instructor`` package.
"""

import builtins
import functools
import hashlib
import hmac
import importlib
import json
import os
import pkgutil
import sys
import time
import types

#: When this module began to load (seconds since the epoch): the grader times the kernel's
#: start-up phases from it (bench/run.py prints them).
LOADED_AT = time.time()

EVENT = "course_guard"
MODULES = (
    "builtins",
    "math",
    "operator",
    "numpy",
    "numpy.testing",
    "torch",
    "torch.nn.functional",
    "torch.testing",
    "unittest",
    "threading",
    "course_utils",
)
#: Classes whose methods tests rely on: ``tensor.allclose``, ``tensor == other``, ``assertEqual``.
CLASSES = (("torch", "Tensor"), ("numpy", "ndarray"), ("unittest", "TestCase"))
#: Attributes of ``sys`` that tests, provenance and the display of errors rely on.
SYS_NAMES = ("audit", "addaudithook", "setprofile", "getprofile", "settrace", "gettrace")
#: Hooks IPython swaps while a cell runs: each may be what it was inside or outside a cell.
SYS_HOOKS = ("displayhook", "excepthook")
#: Names IPython and ipykernel rebind as cells run (the last results; input while a cell runs).
VOLATILE = {"_", "__", "___", "input", "get_ipython", "exit", "quit"}
#: Types that answers are compared as; a subclass made in the notebook must not redefine these.
COMPARED = (("torch", "Tensor"), ("numpy", "ndarray"))
COMPARED_BUILTINS = (int, float, complex, tuple, list, dict, str, bytes, set, frozenset)
COMPARISONS = {
    *("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__"),
    *("__abs__", "__sub__", "__rsub__", "__float__", "__int__", "__index__", "__iter__"),
    *("__getitem__", "__contains__", "__array__", "__array_ufunc__", "__array_function__"),
    *("__torch_function__", "__torch_dispatch__", "__instancecheck__", "__class__"),
    *("allclose", "equal", "isclose", "eq", "ne", "all", "any", "item", "tolist", "sum", "max"),
    *("abs", "norm", "shape", "size", "dim", "numpy", "float", "double", "to", "detach"),
}
#: What makes any object a fake answer, whatever its type: ``Yes() == 26``, ``torch.equal(Yes(), t)``.
EQUALITY = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__"}
EQUALITY |= {"__array_ufunc__", "__array_function__", "__instancecheck__"}
#: Audit events that reach objects without a reference to them (the guard's own closure).
SNOOPING = {"gc.get_referrers", "gc.get_referents", "gc.get_objects"}
#: Shell attributes the kernel runs each cell and reports its errors through.
SHELL_OBJECTS = ("displayhook", "display_pub", "display_trap", "CustomTB", "custom_exceptions")
SHELL_OBJECTS += ("kernel", "compile", "input_transformer_manager", "events", "InteractiveTB")
SHELL_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")
MANAGER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")
_vars, _setattr, _delattr = builtins.vars, builtins.setattr, builtins.delattr
_isinstance, _getattr, _type = builtins.isinstance, builtins.getattr, builtins.type
_set_module_attribute = types.ModuleType.__setattr__
# Read classes and modules through ``type``'s and ``ModuleType``'s own descriptors, so that no
# metaclass, ``__getattr__`` or property of the notebook's runs while the guard works.
_class_dict = type.__dict__["__dict__"].__get__
_class_mro = type.__dict__["__mro__"].__get__
_class_name = type.__dict__["__name__"].__get__
_class_qualname = type.__dict__["__qualname__"].__get__
_class_module = type.__dict__["__module__"].__get__
_module_dict = types.ModuleType.__dict__["__dict__"].__get__
UNWRAP = {
    types.MethodType: "__func__",
    staticmethod: "__func__",
    classmethod: "__func__",
    functools.partial: "func",
    property: "fget",
}
C_CALLABLES = (
    types.BuiltinFunctionType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.MethodWrapperType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.ClassMethodDescriptorType,
)


def _is_class(value) -> bool:
    return type in _class_mro(_type(value))


def _namespace(owner):
    """The ``__dict__`` of a module or class, read without running any of its code."""
    return _class_dict(owner) if _is_class(owner) else _module_dict(owner)


def library_roots() -> tuple[str, ...]:
    """Folders of installed code (the interpreter, site-packages, course_utils, this guard)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(__file__)}
    course = sys.modules.get("course_utils")
    if course is not None and _getattr(course, "__file__", None):
        roots.add(os.path.dirname(course.__file__))
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def _source_file(value):
    """The file that defines ``value`` (a function, method, partial, class or instance), or None.

    Looks only at exact types, so that nothing the notebook defined runs while it looks."""
    for _ in range(8):
        kind = _type(value)
        if kind in UNWRAP:
            value = _getattr(value, UNWRAP[kind])
        elif kind is types.FunctionType and "__wrapped__" in value.__dict__:
            value = value.__dict__["__wrapped__"]
        else:
            break
    kind = _type(value)
    if kind is types.FunctionType:
        return value.__code__.co_filename
    if kind in C_CALLABLES:
        return "<built-in>"
    name = _class_module(value if _is_class(value) else kind)
    module = sys.modules.get(name) if _type(name) is str else None
    if module is not None and _module_dict(module).get("__name__") in sys.builtin_module_names:
        return "<built-in>"  # a C module: _collections ...
    path = _module_dict(module).get("__file__") if module is not None else None
    return path if _type(path) is str else None


def _protected_modules():
    modules = {}
    for name in MODULES:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:  # e.g. numpy missing: nothing of it to protect
            continue
    course = modules.get("course_utils")
    for info in pkgutil.iter_modules(_getattr(course, "__path__", [])):
        try:  # every submodule: course_utils.provenance.own_work is a checking function
            modules[f"course_utils.{info.name}"] = importlib.import_module(
                f"course_utils.{info.name}"
            )
        except Exception:
            continue
    return modules


def _compared_types(modules):
    found = list(COMPARED_BUILTINS)
    for module_name, class_name in COMPARED:
        if module_name in modules:
            found.append(_getattr(modules[module_name], class_name))
    return tuple(found)


def _subclasses(base):
    seen, todo = [], [base]
    while todo:
        for sub in type.__subclasses__(todo.pop()):
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


def _function_parts(value):
    if _isinstance(value, types.FunctionType):
        return (value.__code__, value.__defaults__, value.__kwdefaults__)
    return None


def _shell():
    ipython = sys.modules.get("IPython")
    get = _getattr(ipython, "get_ipython", None)
    return get() if get else None


class _Snapshot:
    """What the tests rely on, as it was before any student cell; restored on request."""

    def __init__(self):
        start = time.perf_counter()
        modules = _protected_modules()
        self.seconds = {"guard_imports": time.perf_counter() - start}
        owners = dict(modules)
        for module_name, class_name in CLASSES:
            if module_name in modules:
                owners[f"{module_name}.{class_name}"] = _getattr(modules[module_name], class_name)
        self.kinds = {name: _type(owner) for name, owner in owners.items()}
        self.owners = {
            name: (owner, {k: v for k, v in _namespace(owner).items() if k not in VOLATILE})
            for name, owner in owners.items()
        }
        self.functions = {
            (name, key): (value, _function_parts(value))
            for name, (_, attributes) in self.owners.items()
            for key, value in attributes.items()
            if _function_parts(value) is not None and not name.startswith("builtins")
        }
        self.sys = {name: _getattr(sys, name) for name in SYS_NAMES if hasattr(sys, name)}
        self.sys_hooks = {name: [_getattr(sys, name)] for name in SYS_HOOKS}
        self.compared = _compared_types(modules)
        self.roots = library_roots()
        self.verdicts = {}
        self.shell = _shell()
        self.shell_state = self._shell_state()
        self.helpers = {}
        self.seconds["guard_snapshot"] = time.perf_counter() - start - self.seconds["guard_imports"]

    # -- the shell's hooks -----------------------------------------------------------------------
    def _shell_state(self):
        shell = self.shell
        if shell is None:
            return None
        manager = shell.input_transformer_manager
        state = {
            "objects": {name: _getattr(shell, name, None) for name in SHELL_OBJECTS},
            "lists": {name: list(_getattr(shell, name, [])) for name in SHELL_LISTS},
            "manager": {name: list(_getattr(manager, name, [])) for name in MANAGER_LISTS},
            "events": {k: list(v) for k, v in shell.events.callbacks.items()},
        }
        displayhook = shell.displayhook
        carriers = {"shell": shell, "displayhook": displayhook, "display_pub": shell.display_pub}
        carriers["session"] = _getattr(displayhook, "session", None)
        carriers["kernel"] = _getattr(shell, "kernel", None)
        state["carriers"] = {
            name: (obj, self._instance_state(obj), _type(obj), dict(_vars(_type(obj))))
            for name, obj in carriers.items()
            if obj is not None
        }
        state["displayhook_parts"] = {
            name: _getattr(displayhook, name, None) for name in ("session", "pub_socket")
        }
        return state

    @staticmethod
    def _instance_state(obj):
        """Instance attributes that shadow a method of the object's class, and their values."""
        try:
            own = _vars(obj)
        except TypeError:
            return {}
        cls = _type(obj)
        return {k: v for k, v in own.items() if callable(_getattr(cls, k, None))}

    def _restore_shell(self, found):
        state, shell = self.shell_state, self.shell
        if state is None:
            return
        for name, value in state["objects"].items():
            if _getattr(shell, name, None) is not value:
                found.append(f"IPython shell.{name} replaced")
                _setattr(shell, name, value)
        found += _restore_lists(shell, state["lists"], lambda name: f"{name}:")
        manager = shell.input_transformer_manager
        found += _restore_lists(manager, state["manager"], lambda name: "input transformer")
        for event, callbacks in shell.events.callbacks.items():
            saved = state["events"].get(event, [])
            for callback in [c for c in callbacks if c not in saved]:
                if not self._library(callback):  # matplotlib registers its own
                    found.append(f"IPython {event} callback {_describe(callback)} added")
                    callbacks.remove(callback)
        for name, value in state["displayhook_parts"].items():
            if _getattr(shell.displayhook, name, None) is not value:
                found.append(f"IPython shell.displayhook.{name} replaced")
                _setattr(shell.displayhook, name, value)
        for name, (obj, shadows, cls, methods) in state["carriers"].items():
            if _type(obj) is not cls:  # first: nothing of a class put in its place may run
                found.append(f"IPython {name}'s class replaced")
                object.__setattr__(obj, "__class__", cls)
            now = self._instance_state(obj)
            for key in [k for k in now if shadows.get(k, self) is not now[k]]:
                found.append(f"IPython {name}.{key} replaced")
                if key in shadows:
                    _setattr(obj, key, shadows[key])
                else:
                    _delattr(obj, key)
            self._restore_attributes(f"{cls.__module__}.{cls.__qualname__}", cls, methods, found)

    # -- modules, classes and functions ----------------------------------------------------------
    def _restore_attributes(self, name, owner, attributes, found):
        current = _namespace(owner)
        for key, value in attributes.items():
            if current.get(key, self) is not value:
                if key in VOLATILE or torch_wrapper(current.get(key), value):
                    continue
                found.append(f"{name}.{key}")
                try:
                    if _isinstance(owner, types.ModuleType):
                        _set_module_attribute(owner, key, value)
                    else:
                        _setattr(owner, key, value)
                except (AttributeError, TypeError):  # a C type: its dict cannot be written
                    pass
        if _is_class(owner):  # a new override of an inherited method: Tensor.__eq__
            for key in [k for k in list(current) if k not in attributes and k not in VOLATILE]:
                if any(key in _class_dict(base) for base in _class_mro(owner)[1:]):
                    found.append(f"{name}.{key}")
                    try:
                        _delattr(owner, key)
                    except (AttributeError, TypeError):
                        pass

    def _restore_functions(self, found):
        for (name, key), (function, (code, defaults, kwdefaults)) in self.functions.items():
            if (function.__code__, function.__defaults__, function.__kwdefaults__) != (
                code,
                defaults,
                kwdefaults,
            ):
                found.append(f"{name}.{key}'s code or defaults")
                function.__code__, function.__defaults__ = code, defaults
                function.__kwdefaults__ = kwdefaults

    def _suspects(self):
        """Classes an answer may be an instance of: subclasses of the compared types, classes
        made without a base (``class Yes:``), and the classes of the notebook's values."""
        suspects = {c for base in self.compared for c in _subclasses(base)}
        suspects.update(type.__subclasses__(object))
        namespace = self.shell.user_ns if self.shell is not None else {}
        for value in list(namespace.values()):
            for cls in (value, _type(value)) if _is_class(value) else (_type(value),):
                suspects.update(_class_mro(cls))
        return suspects

    def _neutralise_fakes(self, found):
        """Delete comparisons that a class made in the notebook redefines (``__eq__`` that always
        says yes), so that a fake answer compares as what it claims to be."""
        for cls in self._suspects():
            compared = any(base in self.compared for base in _class_mro(cls))
            names = _class_dict(cls).keys() & (COMPARISONS if compared else EQUALITY)
            for key in sorted(names):
                value = _class_dict(cls)[key]
                if cls in self.compared or self._library(value, cls):
                    continue
                what = f"a subclass of {_nearest(cls, self.compared)}" if compared else "a class"
                found.append(
                    f"fake answer type {_class_name(cls)} ({what} that redefines {key} in the "
                    "notebook): the redefinition was removed"
                )
                try:
                    type.__delattr__(cls, key)
                except (AttributeError, TypeError):
                    pass

    def _library(self, value, owner=None) -> bool:
        """Whether ``value`` (a method of ``owner``) is installed code, not the notebook's.

        Code generated from a string (``dataclasses``, ``attrs``) counts as its class's module."""
        path = _source_file(value)
        if path and path.startswith("<") and path != "<built-in>" and owner is not None:
            if _dataclass_made(value):
                return True
            name = _class_module(owner)
            module = sys.modules.get(name) if _type(name) is str else None
            notebook = module is None or module is sys.modules.get("__main__")
            path = None if notebook else _module_dict(module).get("__file__")
        if path not in self.verdicts:
            self.verdicts[path] = path == "<built-in>" or (
                bool(path) and os.path.realpath(path).startswith(self.roots)
            )
        return self.verdicts[path]

    def _restore_helpers(self, found):
        shell = self.shell
        namespace = shell.user_ns if shell is not None else {}
        for key, value in self.helpers.items():
            if namespace.get(key, self) is not value:
                found.append(f"the notebook's read-only {key} redefined")
                namespace[key] = value

    def protect(self, names):
        """Remember the notebook's current ``names`` (bound by a read-only cell) as helpers."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        for key in names:  # a later read-only cell may define a name again: the latest counts
            if key in namespace:
                self.helpers[key] = namespace[key]

    def _restore_sys(self, found):
        for name, value in self.sys.items():
            if _getattr(sys, name, None) is not value:
                found.append(f"sys.{name}")
                _setattr(sys, name, value)

    def outside_cells(self):
        """Record ``sys.displayhook`` and ``excepthook`` as they are between cells (at start)."""
        for name, values in self.sys_hooks.items():
            values.append(_getattr(sys, name))

    def _restore_sys_hooks(self, found):
        for name, values in self.sys_hooks.items():
            if all(_getattr(sys, name) is not value for value in values):
                found.append(f"sys.{name} replaced")
                _setattr(sys, name, values[-1])

    def _restore_owners(self, found):
        for name, (owner, attributes) in self.owners.items():
            if _type(owner) is not self.kinds[name]:  # a module given a class of the notebook's
                found.append(f"{name}'s class replaced")
                object.__setattr__(owner, "__class__", self.kinds[name])
            self._restore_attributes(name, owner, attributes, found)

    def restore(self) -> list[str]:
        """Put everything back; what had been changed, as sorted lines."""
        found = []
        for part in (
            self._restore_sys,
            self._restore_sys_hooks,
            self._restore_owners,
            self._restore_functions,
            self._restore_shell,
            self._neutralise_fakes,
            self._restore_helpers,
        ):
            try:
                part(found)
            except Exception as error:  # something built to break the guard: say so, go on
                found.append(f"the guard's {part.__name__[1:]} failed: {type(error).__name__}")
        return sorted(set(found))


def _nearest(cls, compared) -> str:
    base = next(b for b in _class_mro(cls) if b in compared)
    return f"{_class_module(base)}.{_class_qualname(base)}".removeprefix("builtins.")


def _dataclass_made(value) -> bool:
    """A method that ``dataclasses`` wrote (``__eq__`` comparing the fields): not a fake."""
    return (
        _type(value) is types.FunctionType
        and value.__code__.co_filename == "<string>"
        and value.__code__.co_qualname.startswith("__create_fn__.")
    )


def _restore_lists(owner, saved_lists: dict, kind) -> list[str]:
    """Put each list attribute of ``owner`` back as it was saved; one finding per added item,
    named ``kind(attribute)``."""
    found = []
    for name, saved in saved_lists.items():
        current = _getattr(owner, name)
        extra = [f for f in current if f not in saved]
        if extra or len(current) != len(saved):
            found += [f"IPython {kind(name)} {_describe(f)} added" for f in extra]
            current[:] = saved
    return found


def _describe(value) -> str:
    kind = _type(value)
    name = value.__qualname__ if kind is types.FunctionType else _class_qualname(kind)
    return f"{name} ({_source_file(value) or '?'})"


def torch_wrapper(current, original) -> bool:
    """True for PyTorch's own wrapping of a function (``torch._dynamo`` rebinds
    ``torch.manual_seed`` when it is first imported): a wrapper defined in ``torch/_compile.py``."""
    compile_module = sys.modules.get("torch._compile")
    code = _getattr(current, "__code__", None)
    return (
        compile_module is not None
        and _getattr(current, "__wrapped__", None) is original
        and code is not None
        and code.co_filename == _getattr(compile_module, "__file__", None)
    )


def _signature(key: bytes, nonce: str, findings: list[str]) -> str:
    message = json.dumps([nonce, findings]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def install(event: str = EVENT) -> None:
    """Take the snapshot and answer ``event`` from an audit hook that holds the only reference."""
    snapshot = _Snapshot()
    key = os.urandom(32)
    state = {"started": False, "snooping": set(), "busy": False}

    def hook(name, args):
        if name in SNOOPING:
            state["snooping"].add(name)
        elif name == "sys.addaudithook" and state["started"]:
            state["snooping"].add("sys.addaudithook")
            raise RuntimeError("the grading kernel allows no further audit hooks")
        elif name == event and args and not state["busy"]:
            state["busy"] = True
            try:
                answer(*args)
            finally:
                state["busy"] = False

    def answer(request, *rest):
        box = rest[-1]
        if request == "start" and not state["started"]:
            state["started"] = True
            snapshot.outside_cells()
            box += [key.hex(), {"loaded_at": LOADED_AT, **snapshot.seconds}]
        elif request == "protect":
            snapshot.protect(rest[0])
        elif request == "restore":
            findings = snapshot.restore()
            findings += [f"{n}() called (reaches the guard)" for n in sorted(state["snooping"])]
            state["snooping"].clear()
            box += [findings, _signature(key, rest[0], findings)]

    sys.addaudithook(hook)


def restore(nonce: str = "") -> list[str]:
    """Ask this guard to restore everything; what had been changed (for tests, in-process)."""
    box = []
    sys.audit(INSTALLED, "restore", nonce, box)
    return box[0]


def verify(key_hex: str, nonce: str, answer) -> list[str] | None:
    """The findings in the guard's ``answer`` to ``nonce``, or None if it is not the guard's."""
    if not (_isinstance(answer, list) and len(answer) == 2 and _isinstance(answer[0], list)):
        return None
    findings, signature = answer
    expected = _signature(bytes.fromhex(key_hex), nonce, findings)
    return findings if hmac.compare_digest(expected, str(signature)) else None


if __name__ == "_course_guard":  # in the kernel (tests load copies under their own event names)
    INSTALLED = os.environ.pop("COURSE_GUARD_EVENT", EVENT)
    install(INSTALLED)
