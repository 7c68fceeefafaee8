"""The environment that chapters run in when graded or tested: defined once, used by the grader,
the sandbox, and the tests' kernels.

- Fast mode (``COURSE_FAST_MODE=1``, see ``course_utils.fastmode``) and matplotlib without a display.
- One thread pool size for the maths libraries, when several kernels share the cores.
"""

import os

from course_utils.fastmode import ENV_VAR as FAST_MODE

#: What every graded or tested kernel runs with.
RUN = {FAST_MODE: "1", "MPLBACKEND": "agg"}
#: Thread pools of the maths libraries: one thread per kernel when several kernels share the CPUs.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: What a sandboxed kernel keeps of the grader's environment; everything else is dropped.
KEPT = (
    "PATH",
    "LANG",
    "LC_ALL",
    *RUN,
    "FASHION_MNIST_ROOT",
    *THREAD_VARIABLES,
    "TORCH_NUM_THREADS",
    "PYTHONHASHSEED",
)


def use_threads(count: int, overwrite: bool = True) -> None:
    """``count`` threads for the maths libraries of this process and of the kernels it starts
    (``overwrite=False``: a variable already set stays)."""
    for name in THREAD_VARIABLES:
        if overwrite:
            os.environ[name] = str(count)
        else:
            os.environ.setdefault(name, str(count))
    try:
        import torch

        torch.set_num_threads(count)
    except ImportError:  # pragma: no cover (torch is a course requirement)
        pass
