"""Provenance: did a student's answer do the work itself, or borrow the course's reference?

The library holds reference versions of everything the exercises ask for, because later chapters
import them. A test cell must therefore tell a student's own code from a call into the library,
however it is reached: calling the reference, subclassing it and keeping its method, aliasing a
method in the class body (``sample = VariationalAutoEncoder.sample``), or building a model from the
library model's ``encoder``. Names do not tell these apart; the code that actually runs does.

``own_work(function, *args)`` runs the call under a profiler, in its own thread and every thread it
starts, and fails if any function defined in ``course_utils`` ran, except the ones the exercise
provides (``allowed``). An audit hook, which nothing can remove, notices when the profiler is
switched off or replaced during the call (under any alias of ``sys``), and a thread of the
notebook's, started earlier, that runs while the answer is computed fails the check too. Modules that the library
builds are tagged with :func:`mark_reference`, so that ``borrowed_parts(model)`` finds a library
model's parts inside a student's model, wherever they were built.
"""

import _thread
import os
import sys
import threading
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
    if qualname == "<module>" or module == "provenance":  # an import, or this watch itself
        return True
    parts = qualname.split(".")
    # a comprehension or closure inside an allowed function is part of that function
    prefixes = {".".join([module, *parts[: i + 1]]) for i in range(len(parts))}
    return bool(prefixes & set(allowed) or set(parts) & set(allowed))


def _installed_roots() -> tuple[str, ...]:
    """Folders of installed code: the interpreter's and the course library's."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(LIBRARY)}
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def _watch_switches():
    """An audit hook (it cannot be removed) that counts every profiler or tracer set by anyone
    but ``own_work`` itself or ``threading`` starting a thread under ``own_work``'s watch."""
    seen = [0]
    here = os.path.realpath(__file__)

    def hook(event, args):
        if event in ("sys.setprofile", "sys.settrace"):
            caller = sys._getframe(1).f_code
            ours = os.path.realpath(caller.co_filename) == here
            starting = (
                caller.co_name == "_bootstrap_inner" and caller.co_filename == threading.__file__
            )
            if not (ours or starting and event == "sys.setprofile"):
                seen[0] += 1

    sys.addaudithook(hook)
    return lambda: seen[0]


_seen = _watch_switches()


def _foreign_threads() -> list[str]:
    """Names of the other threads that are running code not installed (the notebook's own)."""
    roots, current, found = _installed_roots(), threading.get_ident(), []
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        while ident != current and frame is not None:
            if not os.path.realpath(frame.f_code.co_filename).startswith(roots):
                found.append(names.get(ident, f"thread {ident}"))
                break
            frame = frame.f_back
    return found


def own_work(function, *args, allowed=(), what="your code", **kwargs):
    """Call ``function(*args, **kwargs)``; fail if it runs any of the course's reference code.

    ``allowed``: qualified names (``"models.VariationalAutoEncoder.encode"``) or bare function names
    (``"encode"``) that the exercise lets students call. Returns what ``function`` returned.
    Every thread the call starts is watched too; it fails if the call switches the profiler off or
    leaves work to a thread of the notebook's that was started before.
    """
    used = []

    def watch(frame, event, arg):
        if event == "call":
            name = library_function(frame.f_code)
            if name and not _permitted(name, allowed):
                used.append(name)

    before = _seen()
    previous, previous_threads = sys.getprofile(), threading.getprofile()
    threads = _foreign_threads()
    start_new_thread = _thread.start_new_thread

    def watched_thread(function, args, kwargs=None):  # _thread's own threads, watched too
        def run(*args, **kwargs):
            sys.setprofile(watch)
            return function(*args, **kwargs)

        return start_new_thread(run, args, kwargs or {})

    sys.setprofile(watch)
    threading.setprofile(watch)
    _thread.start_new_thread = watched_thread
    try:
        result = function(*args, **kwargs)
    finally:
        switched_off = sys.getprofile() is not watch
        _thread.start_new_thread = start_new_thread
        threading.setprofile(previous_threads)
        sys.setprofile(previous)
    threads += _foreign_threads()
    if switched_off or _seen() != before:
        raise AssertionError(
            f"{what} switched off or replaced the grader's profiler (sys.setprofile or "
            "sys.settrace): an answer must leave it on"
        )
    if threads:
        raise AssertionError(
            f"{what} runs code in a thread the grader cannot watch "
            f"({', '.join(sorted(set(threads)))}): compute the answer in the calling thread, "
            "or in threads started inside the call"
        )
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
