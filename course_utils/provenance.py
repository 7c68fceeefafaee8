"""Provenance: did a student's answer do the work itself, or borrow the course's reference?

The library holds reference versions of everything the exercises ask for, because later chapters
import them. A test cell must therefore tell a student's own code from a call into the library,
however it is reached: calling the reference, subclassing it and keeping its method, aliasing a
method in the class body (``sample = VariationalAutoEncoder.sample``), or building a model from the
library model's ``encoder``. Names do not tell these apart; the code that actually runs does.

``own_work(function, *args)`` runs the call under a profiler and fails if any function defined in
``course_utils`` ran, except the ones the exercise provides (``allowed``). Modules that the library
builds are tagged with :func:`mark_reference`, so that ``borrowed_parts(model)`` finds a library
model's parts inside a student's model, wherever they were built.
"""

import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent


def library_function(code) -> str | None:
    """``module.function`` if the code object ``code`` is defined in ``course_utils``, else None."""
    path = Path(code.co_filename)
    if path.parent != LIBRARY:
        return None
    return f"{path.stem}.{getattr(code, 'co_qualname', code.co_name)}"


def _permitted(name, allowed) -> bool:
    """Whether the library code ``name`` may run: importing a module, or inside an allowed function."""
    module, _, qualname = name.partition(".")
    if qualname == "<module>":
        return True
    parts = qualname.split(".")
    # a comprehension or closure inside an allowed function is part of that function
    prefixes = {".".join([module, *parts[: i + 1]]) for i in range(len(parts))}
    return bool(prefixes & set(allowed) or set(parts) & set(allowed))


def own_work(function, *args, allowed=(), what="your code", **kwargs):
    """Call ``function(*args, **kwargs)``; fail if it runs any of the course's reference code.

    ``allowed``: qualified names (``"models.VariationalAutoEncoder.encode"``) or bare function names
    (``"encode"``) that the exercise lets students call. Returns what ``function`` returned.
    """
    used = []

    def watch(frame, event, arg):
        if event == "call":
            name = library_function(frame.f_code)
            if name and not _permitted(name, allowed):
                used.append(name)

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = function(*args, **kwargs)
    finally:
        switched_off = sys.getprofile() is not watch
        sys.setprofile(previous)
    if switched_off:
        raise AssertionError(f"{what} switched off the grader's profiler (sys.setprofile)")
    if used:
        raise AssertionError(
            f"{what} runs the course's reference course_utils.{used[0]}: write it yourself "
            "(do not call, subclass without overriding, or alias the library's version)"
        )
    return result


REFERENCE_TAG = "_course_utils_reference"


def mark_reference(module):
    """Tag ``module`` and all its submodules as built by the course library; returns ``module``."""
    for part in module.modules():
        setattr(part, REFERENCE_TAG, True)
    return module


def borrowed_parts(model) -> list[str]:
    """Names of the submodules of ``model`` that the course library built (``""``: the model itself)."""
    return [name for name, part in model.named_modules() if getattr(part, REFERENCE_TAG, False)]
