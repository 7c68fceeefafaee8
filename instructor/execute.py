"""``GuardedExecute``: nbgrader's ``Execute`` with a sandboxed kernel, a guard and a deadline.

- The kernel is started by ``SandboxKernelManager`` (instructor/sandbox.py).
- Before every test cell and after the last cell, the kernel guard (instructor/kernel_guard.py)
  puts back any checking function the student rebound (``torch.allclose = ...``), so that the
  tests run against the originals; what it found goes into the notebook's metadata
  (``course_grading.rebound``), which ``make autograde`` reports as a tamper flag.
- A notebook-wide deadline: once a cell has timed out (an endless loop), every later cell shares
  a short grace budget (``grace_seconds``), so an endless loop that several cells call costs one
  cell timeout plus the grace, not one timeout per cell.
"""

import ast
import time

from jupyter_core.utils import run_sync
from nbgrader.preprocessors import Execute
from traitlets import Integer

from instructor.sandbox import SandboxKernelManager

GUARD_EXPRESSION = "__import__('_course_guard').restore()"
METADATA = "course_grading"
GUARD_SECONDS = 30


def is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


class GuardedExecute(Execute):
    """Execute in a sandboxed kernel; restore the checking functions before each test cell."""

    grace_seconds = Integer(
        15, help="Seconds that all the cells after a timed-out cell share, together."
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._grace_deadline = None
        self._report = {"rebound": [], "timeouts": 0, "guard": "ok"}
        nb.metadata.pop(METADATA, None)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._report["rebound"] = sorted(set(self._report["rebound"]))
            nb.metadata[METADATA] = self._report

    def preprocess_cell(self, cell, resources, index):
        if is_test(cell):
            self._guard()
        cell, resources = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:
            self._guard()
        return cell, resources

    def _guard(self):
        """Restore the checking functions in the kernel; record which ones had been rebound."""
        if self._report["guard"] != "ok":
            return
        try:
            msg_id = self.kc.execute(
                "", silent=True, store_history=False, user_expressions={"x": GUARD_EXPRESSION}
            )
            reply = run_sync(self.async_wait_for_reply)(msg_id)
            result = reply["content"]["user_expressions"]["x"]
        except Exception as error:  # a dead kernel, no reply: the cells report it themselves
            self._report["guard"] = f"could not run: {type(error).__name__} {error}"[:200]
            return
        if result.get("status") != "ok":
            self._report["guard"] = f"broken: {result.get('ename')} {result.get('evalue')}"[:200]
            return
        text = result["data"]["text/plain"]
        try:
            self._report["rebound"] += list(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            self._report["guard"] = f"unexpected answer {text[:100]!r}"

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
