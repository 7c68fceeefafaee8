"""The grading kernel, in a bubblewrap sandbox: one per submission, started by ``make autograde``.

``SandboxKernelManager`` is the kernel manager that ``GuardedExecute`` (instructor/execute.py)
starts each submission's kernel with. It talks to the kernel over Jupyter's ``ipc`` transport
(Unix sockets in a private folder), so the kernel needs no network, and wraps the kernel command in
``bwrap`` (Debian's ``bubblewrap``):

- its own network, PID, IPC and UTS namespaces (no network at all);
- a root file system made of read-only binds of what a chapter needs: the system (``/usr``,
  ``/etc``, ``/lib``...), the Python installation, the ``course_utils`` package alone (not the
  course folder), the data (``/usr/share/datasets``, ``$FASHION_MNIST_ROOT``);
- one writable folder, ``/submission``: a scratch copy of this student's submitted files, which is
  also the kernel's working folder; ``/tmp`` is an empty tmpfs;
- nothing of the course folder: no ``chapters/``, ``_build/nbgrader/source``, ``gradebook.db``,
  ``release/``, ``submitted/``, ``autograded/``, ``grades/`` or ``feedback/``;
- a clean environment (HOME=/tmp, no instructor variables), and ``prlimit`` limits on address
  space, processes and CPU time. As root, the kernel runs as an unprivileged user id of its own
  (root ignores the process limit); otherwise bwrap maps the grader's user into a user namespace,
  and the process limit counts all of that user's processes.

With ``sandbox=False`` (``make autograde SANDBOX=0``) the kernel runs as an ordinary process; the
kernel guard (instructor/kernel_guard.py) is loaded either way.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Bool, Integer, Unicode

from instructor.environment import KEPT

GUARD = Path(__file__).with_name("kernel_guard.py")
#: Where the guard module is bound inside the sandbox (put on the kernel's ``sys.path``).
GUARD_DIR = "/opt/course-guard"
SUBMISSION = "/submission"
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: As root, each grading process runs its kernels as a user id of its own, 200000 + (pid mod
#: 100000), with no other process: the process limit then counts that kernel's processes only.
FIRST_UID = 200000


def kernel_uid() -> int:
    return FIRST_UID + os.getpid() % 100000


NAMESPACES = ("net", "pid", "ipc", "uts", "cgroup-try")
#: An interrupt (SIGINT to the process group, when a cell times out) must reach the kernel, which
#: handles it while a cell runs, and not kill bwrap, which would take the kernel down with it.
IGNORE_SIGINT = ["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"']


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot start a sandbox here."""


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so submissions cannot be graded in a sandbox.\n"
            "Install it (`apt-get install bubblewrap`, or `make system-deps`), or, only for "
            "notebooks you trust, grade without a sandbox: make autograde ... SANDBOX=0"
        )
    return path


def check_sandbox() -> None:
    """Start one throw-away sandbox; raise ``SandboxUnavailable`` with the reason if that fails."""
    command = sandbox_command([sys.executable, "-c", "print('ok')"], scratch=None, ipc=None)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, env={})
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnavailable(f"bwrap could not start a sandbox: {error}") from error
    if result.returncode != 0 or result.stdout.strip() != "ok":
        raise SandboxUnavailable(
            "bwrap could not start a sandbox here (user namespaces disabled? inside a container "
            f"without the rights to make namespaces?):\n{result.stderr.strip()[-1000:]}\n"
            "Grade without a sandbox only for notebooks you trust: make autograde ... SANDBOX=0"
        )


def python_folders() -> list[str]:
    """The folders of this Python installation, and of the ``course_utils`` package alone."""
    folders = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    spec = importlib.util.find_spec("course_utils")
    if spec is None or not spec.submodule_search_locations:
        raise SandboxUnavailable("course_utils is not installed: run `make setup`")
    library = os.path.realpath(list(spec.submodule_search_locations)[0])
    return sorted(folders) + [library]


def limit_prefix(memory_mb: int, processes: int, cpu_seconds: int) -> list[str]:
    """``prlimit`` (and, as root, a switch to an unprivileged user so that the limits apply)."""
    limits = [
        "prlimit",
        f"--as={memory_mb * 2**20}",
        f"--nproc={processes}",
        f"--cpu={cpu_seconds}",
        "--core=0",
        "--",
    ]
    if os.geteuid() == 0:  # root ignores RLIMIT_NPROC: run the kernel as a user of its own
        uid = kernel_uid()
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        return limits[:-1] + ["--"] + drop
    return limits


def parents(path) -> list[str]:
    """bwrap arguments that make the parent folders of ``path`` readable by the kernel's user."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def sandbox_command(
    command: list[str],
    scratch: Path | None,
    ipc: Path | None,
    memory_mb: int = 6144,
    processes: int = 256,
    cpu_seconds: int = 900,
    environment: dict[str, str] | None = None,
) -> list[str]:
    """``command`` wrapped in bwrap and prlimit, with ``scratch`` as the writable ``/submission``."""
    # as root, no user namespace: the kernel then drops to nobody (see limit_prefix)
    unshare = ["--unshare-all"] if os.geteuid() else [f"--unshare-{n}" for n in NAMESPACES]
    args = [bwrap_path(), *unshare, "--die-with-parent", "--clearenv"]
    for folder in SYSTEM:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    # the fresh /tmp first: a later mount hides what an earlier one put below it, and the course
    # (with course_utils) or the data may well live under /tmp, e.g. in a CI clone
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    folders = python_folders()
    for folder in folders:  # their parents readable by the kernel's user (e.g. /root)
        args += parents(folder) + ["--ro-bind", folder, folder]
    # the kernel imports the course_utils the grader found (the course's own), whatever an
    # editable install elsewhere points to; only that package is bound in its parent folder
    library_parent = os.path.dirname(folders[-1])
    data = (environment or {}).get("FASHION_MNIST_ROOT")
    if data and os.path.isdir(data):
        args += ["--ro-bind", os.path.realpath(data), os.path.realpath(data)]
    args += parents(f"{GUARD_DIR}/x") + ["--ro-bind", str(GUARD), f"{GUARD_DIR}/_course_guard.py"]
    if ipc is not None:
        args += parents(ipc) + ["--bind", str(ipc), str(ipc)]
    if scratch is not None:
        args += ["--bind", str(scratch), SUBMISSION, "--chdir", SUBMISSION]
    env = {k: v for k, v in (environment or {}).items() if k in KEPT}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME="/tmp", MPLCONFIGDIR="/tmp/matplotlib", PYTHONPATH=f"{GUARD_DIR}:{library_parent}"
    )
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return args + limit_prefix(memory_mb, processes, cpu_seconds) + command


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in bwrap, reached through ``ipc`` sockets."""

    sandbox = Bool(True, help="Run the kernel in bubblewrap (False: an ordinary process).").tag(
        config=True
    )
    memory_mb = Integer(6144, help="Address-space limit of the kernel, in MiB.").tag(config=True)
    processes = Integer(256, help="Process limit (RLIMIT_NPROC) of the kernel's user.").tag(
        config=True
    )
    cpu_seconds = Integer(900, help="CPU-time limit of the kernel, in seconds.").tag(config=True)
    log_path = Unicode("", help="File that the kernel's stdout and stderr go to.").tag(config=True)
    submission = Unicode(
        "", help="The student's submitted folder, copied as /submission (empty: an empty folder)."
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._private = Path(tempfile.mkdtemp(prefix="course-kernel-"))
        self._scratch = self._private / "submission"
        self._ipc = self._private / "ipc"
        self._ipc.mkdir()
        self.transport = "ipc"
        self.ip = str(self._ipc / "kernel")
        self.connection_file = str(self._ipc / "kernel.json")

    def _prepare_scratch(self) -> None:
        """A copy of the student's submitted files, as the grader names them (never the grader's
        notebook with its tests)."""
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.submission and Path(self.submission).is_dir():
            shutil.copytree(
                self.submission, self._scratch, symlinks=False, ignore_dangling_symlinks=True
            )
        else:
            self._scratch.mkdir()
        if os.geteuid() == 0:  # the kernel's own user writes there and makes its sockets
            paths = [self._ipc, *self._ipc.iterdir(), self._scratch, *self._scratch.rglob("*")]
            for path in paths:
                os.chown(path, kernel_uid(), kernel_uid(), follow_symlinks=False)

    def format_kernel_cmd(self, extra_arguments=None):
        command = super().format_kernel_cmd(extra_arguments)
        command += ["--IPKernelApp.exec_lines=['import _course_guard']"]
        self.copy_seconds, self.launched_at = 0.0, time.time()  # timed for the bench
        if not self.sandbox:
            return command
        self._prepare_scratch()
        self.copy_seconds, self.launched_at = time.time() - self.launched_at, time.time()
        environment = self._launch_args.get("env") or dict(os.environ)
        return IGNORE_SIGINT + sandbox_command(
            command,
            self._scratch,
            self._ipc,
            memory_mb=self.memory_mb,
            processes=self.processes,
            cpu_seconds=self.cpu_seconds,
            environment=environment,
        )

    async def _async_pre_start_kernel(self, **kw):
        env = dict(kw.get("env") or os.environ)
        if not self.sandbox:  # the guard module, from a private copy
            guard_dir = self._private / "guard"
            guard_dir.mkdir(exist_ok=True)
            shutil.copy(GUARD, guard_dir / "_course_guard.py")
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(guard_dir), env.get("PYTHONPATH")])
            )
        kw["env"] = env
        if self.log_path:  # closed with the kernel's other resources
            self._log = open(self.log_path, "a")  # noqa: SIM115
            kw.setdefault("stdout", self._log)
            kw.setdefault("stderr", self._log)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)
            if getattr(self, "_log", None):
                self._log.close()
