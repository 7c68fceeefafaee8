"""Kernel-side guard: snapshot the checking functions before any student cell, restore them later.

The grading kernel imports this module at start-up (``IPKernelApp.exec_lines``), before the first
cell runs. It records the attributes of the modules that tests check with (``torch.allclose``,
``builtins.isinstance``, ``numpy.testing.assert_allclose``, the methods of ``torch.Tensor`` ...).
Before every test cell, and once after the last cell, the grader evaluates ``restore()`` in the
kernel: every attribute that was rebound or deleted since start-up is put back, every method
added to a class over an inherited one (``torch.Tensor.__eq__ = ...``) is removed, and their names
are returned, so that the tests run against the originals and the grader flags the submission.

Runs inside the student's kernel with no dependency on the ``instructor`` package.
"""

import builtins
import importlib
import sys

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
    "course_utils",
)
#: Classes whose methods tests rely on: ``tensor.allclose``, ``tensor == other``, ``assertEqual``.
CLASSES = (("torch", "Tensor"), ("numpy", "ndarray"), ("unittest", "TestCase"))
#: Names IPython and ipykernel rebind as cells run (the last results; input while a cell runs).
VOLATILE = {"_", "__", "___", "input", "get_ipython", "exit", "quit"}


def _snapshot():
    namespaces = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # e.g. numpy missing: nothing of it to protect
            continue
        namespaces[name] = module
    for module_name, class_name in CLASSES:
        if module_name in namespaces:
            namespaces[f"{module_name}.{class_name}"] = getattr(namespaces[module_name], class_name)
    return {
        name: (owner, {k: v for k, v in vars(owner).items() if k not in VOLATILE})
        for name, owner in namespaces.items()
    }


_ORIGINAL = _snapshot()
_setattr, _delattr, _vars = builtins.setattr, builtins.delattr, builtins.vars


def torch_wrapper(current, original) -> bool:
    """True for PyTorch's own wrapping of a function (``torch._dynamo`` rebinds
    ``torch.manual_seed`` when it is first imported): a wrapper defined in ``torch/_compile.py``."""
    compile_module = sys.modules.get("torch._compile")
    code = getattr(current, "__code__", None)
    return (
        compile_module is not None
        and getattr(current, "__wrapped__", None) is original
        and code is not None
        and code.co_filename == getattr(compile_module, "__file__", None)
    )


def restore():
    """Put back every rebound or deleted attribute; the sorted names of those that were changed."""
    changed = []
    for name, (owner, attributes) in _ORIGINAL.items():
        current = _vars(owner)
        for key, value in attributes.items():
            if current.get(key, restore) is not value:
                if torch_wrapper(current.get(key), value):
                    continue
                changed.append(f"{name}.{key}")
                try:
                    _setattr(owner, key, value)
                except (AttributeError, TypeError):  # a C type: its dict cannot be written
                    pass
        if isinstance(owner, type):  # a new override of an inherited method: Tensor.__eq__
            for key in [k for k in list(current) if k not in attributes and k not in VOLATILE]:
                if any(key in _vars(base) for base in owner.__mro__[1:]):
                    changed.append(f"{name}.{key}")
                    try:
                        _delattr(owner, key)
                    except (AttributeError, TypeError):
                        pass
    return sorted(changed)
