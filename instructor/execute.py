"""``GuardedExecute``: nbgrader's ``Execute`` with a sandboxed kernel, a guard and a deadline.

- The kernel is started by ``SandboxKernelManager`` (instructor/sandbox.py).
- Before any cell, the grader takes the kernel guard's key (instructor/kernel_guard.py). Before
  and after every test cell (and after the last cell) the guard puts back any checking function,
  IPython hook or helper the student changed and defuses fake answer types, so that the tests run
  against the originals; what it found goes into the notebook's metadata
  (``course_grading.rebound``), which ``make autograde`` reports as a tamper flag. Whatever changed
  *while* a test cell ran, and every test after the guard's answer went missing or was forged,
  gets a ``PointsWithheldForReview`` error in that test cell: zero points until the instructor
  has looked.
- A notebook-wide deadline: once a cell has timed out (an endless loop), every later cell shares
  a short grace budget (``grace_seconds``), so an endless loop that several cells call costs one
  cell timeout plus the grace, not one timeout per cell.
- Output on stderr is not an error: a test cell's stderr (a progress bar, a warning, a log record)
  becomes ordinary output, which nbgrader grades like any other (it gives a test cell with stderr
  zero points). An error still scores zero.
- A dead kernel (``os._exit``, a crash, the sandbox's memory or CPU limit) ends the run, not the
  grading: the cell it died in gets an error that says so, every later test cell an error saying
  it was not run (zero points), and the cell's name goes into ``course_grading.died_in``.
- Where the time went, in ``course_grading.seconds``: the kernel's start (the sandbox's copy, the
  launch, the guard's imports and snapshot, the rest), each cell, the guard's checks, and the
  kernel's shutdown (``bench/run.py --only chapters`` prints them).
"""

import ast
import secrets
import time

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

from instructor.cells import cell_name, is_locked, is_test
from instructor.kernel_guard import EVENT, verify
from instructor.sandbox import SandboxKernelManager

METADATA = "course_grading"
GUARD_SECONDS = 30
DIED = "the kernel died while this cell ran (os._exit, a crash, or a memory or CPU limit)"
#: How the guard's state reads once it has been silenced or its answer forged.
TAMPERED = "tampered:"
#: The error name that zeroes a test cell whose run was tampered with.
WITHHELD = "PointsWithheldForReview"


def helper_names(source: str) -> set[str]:
    """Names a read-only cell defines for the tests: its functions, classes, imported modules
    and what it imports from ``course_utils.provenance`` (``own_work``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython syntax (magics): nothing to protect
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "course_utils.provenance":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def error(ename: str, evalue: str):
    """An error output, shown as nbgrader shows its own (a red name and the message)."""
    return new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def start_up(km, kernel_start: float, guard: dict) -> dict[str, float]:
    """The kernel's start in phases: the sandbox's copy of the submission, the launch (bwrap,
    Python, ipykernel) until the guard loads, its imports and snapshot, and the rest (the kernel
    getting ready, the client connecting). Unsigned: for the bench, never for a grade."""
    try:
        phases = {
            "sandbox_copy": km.copy_seconds,
            "kernel_launch": float(guard["loaded_at"]) - km.launched_at,
            "guard_imports": float(guard["guard_imports"]),
            "guard_snapshot": float(guard["guard_snapshot"]),
        }
    except (AttributeError, KeyError, TypeError, ValueError):  # another kernel manager
        return {"kernel_start": kernel_start}
    return {
        "kernel_start": kernel_start,
        **phases,
        "kernel_ready": kernel_start - sum(phases.values()),
    }


def stderr_as_stdout(cell) -> None:
    """Turn the cell's stderr output into ordinary output, text unchanged."""
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stderr":
            output.name = "stdout"


class GuardedExecute(Execute):
    """Execute in a sandboxed kernel; restore the checking functions before each test cell."""

    grace_seconds = Integer(
        15, help="Seconds that all the cells after a timed-out cell share, together."
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        # once the last cell has answered, the kernel has nothing left that the grade needs: kill
        # it, rather than wait for it to exit on request (nbclient waits up to 2.5 s, then kills)
        kwargs.setdefault("shutdown_kernel", "immediate")
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._grace_deadline = None
        self._report = {"rebound": [], "timeouts": 0, "guard": "ok", "died_in": None}
        self._seconds = {"guard_checks": 0.0}
        self._clock = time.perf_counter()  # the start, then the end of the latest cell
        nb.metadata.pop(METADATA, None)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._seconds["kernel_shutdown"] = time.perf_counter() - self._clock
            self._report["seconds"] = {k: round(v, 3) for k, v in self._seconds.items()}
            self._report["rebound"] = sorted(set(self._report["rebound"]))
            nb.metadata[METADATA] = self._report

    def preprocess_cell(self, cell, resources, index):
        died_in = self._report["died_in"]
        if died_in is not None:
            if is_test(cell):
                cell.outputs = [error("DeadKernelError", f"not run: the kernel died in {died_in}")]
            return cell, resources
        if index == 0:
            self._start_guard()
        if is_test(cell):
            self._guard()
        start = time.perf_counter()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._report["died_in"] = cell_name(cell, index)
            cell.outputs.append(error("DeadKernelError", DIED))
            return cell, resources
        finally:
            if cell.cell_type == "code":
                self._seconds[f"cell:{cell_name(cell, index)}"] = time.perf_counter() - start
        if is_test(cell):
            stderr_as_stdout(cell)
        self._after_cell(cell, index)
        self._clock = time.perf_counter()
        return cell, resources

    # -- the kernel guard (instructor/kernel_guard.py) -------------------------------------------
    def _start_guard(self):
        """Before any cell runs: take the guard's key, which it hands out only once, and its
        start-up times."""
        self._guard_key = None
        kernel_start = time.perf_counter() - self._clock
        answer = self._ask_guard("start")
        if (
            isinstance(answer, list)
            and len(answer) == 2
            and isinstance(answer[0], str)
            and isinstance(answer[1], dict)
        ):
            self._guard_key = answer[0]
            self._seconds.update(start_up(self.km, kernel_start, answer[1]))
        elif self._report["guard"] == "ok":
            self._report["guard"] = f"did not start: {answer!r}"[:200]

    def _after_cell(self, cell, index):
        """After a test cell: what changed while it ran costs its points, pending review. After a
        read-only cell: the names it defined are the notebook's helpers, restored like the rest."""
        if is_test(cell):
            self._guard(tested=cell)
        elif cell.cell_type == "code" and is_locked(cell):
            names = helper_names(cell.source)
            if names and self._report["guard"] == "ok":
                self._ask_guard("protect", sorted(names))
        if index == len(self.nb.cells) - 1 and not is_test(cell):
            self._guard()

    def _guard(self, tested=None):
        """Restore the checking functions in the kernel; record what had been changed.

        ``tested``: the test cell that has just run; if anything had been changed while it ran,
        or the guard's answer is missing or forged, its points are withheld for review."""
        if self._report["guard"].startswith(TAMPERED):
            self._withhold(tested, self._report["guard"])
        if self._report["guard"] != "ok":
            return
        nonce = secrets.token_hex(16)
        answer = self._ask_guard("restore", nonce)
        if self._report["guard"].startswith(TAMPERED):  # the request itself was made to fail
            self._withhold(tested, self._report["guard"])
        if self._report["guard"] != "ok":  # or a dead kernel, no reply: the cells report it
            return
        key = getattr(self, "_guard_key", None)
        findings = verify(key, nonce, answer) if key else None
        if findings is None:
            self._report["guard"] = f"{TAMPERED} its answer was missing or forged: {answer!r}"[:300]
            self._withhold(tested, self._report["guard"])
            return
        self._report["rebound"] += findings
        if findings:
            self._withhold(tested, "; ".join(findings))

    def _ask_guard(self, request, *args):
        """Send ``request`` to the guard (an audit event); its answer, or None if it failed."""
        expression = (
            f"(lambda box: (__import__('sys').audit({EVENT!r}, {request!r}, "
            f"*{list(args)!r}, box), box)[1])([])"
        )
        start = time.perf_counter()
        try:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"x": expression}
            )
            reply = run_sync(self.async_wait_for_reply)(msg_id)
            result = reply["content"]["user_expressions"]["x"]
        except Exception as error:  # a dead kernel, no reply: the cells report it themselves
            self._report["guard"] = f"could not run: {type(error).__name__} {error}"[:200]
            return None
        finally:
            self._seconds["guard_checks"] += time.perf_counter() - start
        if result.get("status") != "ok":
            self._report["guard"] = f"{TAMPERED} {result.get('ename')} {result.get('evalue')}"[:200]
            return None
        text = result["data"]["text/plain"]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text[:100]

    def _withhold(self, cell, why):
        """Zero the test ``cell`` with an error saying why; the instructor decides on review."""
        if cell is None or any(o.get("ename") == WITHHELD for o in cell.get("outputs", [])):
            return
        cell.outputs.append(error(WITHHELD, f"points withheld for review: {why}"[:500]))
        self._report["withheld"] = [*self._report.get("withheld", []), cell_name(cell, "?")]

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if cell is None:  # the guard's own call: quick, unless the kernel hangs
            return min(timeout or GUARD_SECONDS, GUARD_SECONDS)
        if self._grace_deadline is None:
            return timeout
        left = max(1, int(self._grace_deadline - time.monotonic()))
        return min(timeout, left) if timeout else left

    async def _async_handle_timeout(self, timeout, cell=None):
        self._report["timeouts"] += 1
        if self._grace_deadline is None:
            self._grace_deadline = time.monotonic() + self.grace_seconds
        return await super()._async_handle_timeout(timeout, cell)
