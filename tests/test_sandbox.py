"""Hostile submissions: each attack is blocked by the sandbox or flagged, and nobody else's grade moves.

One batch of the test chapter (tests/fixtures/00_exercise.ipynb, 2 + 3 points) is graded in the
sandbox, two submissions at once: honest students beside students whose ``flip`` cell first tries
an attack and then defines a correct ``flip``. An attack prints ``BLOCKED`` when the sandbox stops
it and ``LEAK`` when it gets through. The honest ones are graded again without a sandbox, one at a
time: same points. So is one attack, to show that it does get through when nothing stops it.

The same batch holds the attacks on the checks themselves (``CATALOGUE``): fake answer types,
input and AST transformers, ``set_custom_exc``, a display hook that drops errors, a poisoned,
silenced, broken or forged kernel guard, a checking function rebound while a test runs, a
redefined or rebound ``own_work``, the reference called in a thread or with the profiler off, and
hidden tests printed from the caller's source. Each is blocked, or flagged with its points withheld.
"""

import socket
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from submissions import FIXTURE, edit, released, solved, student_version, submit

from instructor.feedback import leaks
from instructor.grading import autograde, snapshot
from instructor.sandbox import SandboxUnavailable

pytestmark = pytest.mark.slow
TIMEOUT = 20
FLIP = "def flip(kernel):\n    return torch.flip(kernel, dims=(-2, -1))\n"
ATTACK = """\
try:
{action}
    print("LEAK {label}")
except Exception as error:
    print("BLOCKED {label}", type(error).__name__)
"""
FORK_BOMB = """\
import os
children = 0
try:
    while children < 100000:
        if os.fork() == 0:  # the child exits at once, but counts until it is reaped
            os._exit(0)
        children += 1
    print("LEAK fork-bomb", children)
except OSError as error:
    print("BLOCKED fork-bomb", type(error).__name__, "after", children, "processes")
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""
CHEAT = """\
import torch as t
t.equal = lambda *args, **kwargs: True
def flip(kernel):
    return kernel
"""

# The attacks on the checks themselves: each replaces the two solution cells (output_size, flip).
OUT = "def output_size(n, kernel, stride=1, padding=0):\n    return (n + 2 * padding - kernel) // stride + 1\n"
OUT_WRONG = "def output_size(n, kernel, stride=1, padding=0):\n    return 0\n"
FLIP_WRONG = "def flip(kernel):\n    return kernel\n"
BORROW = """\
from course_utils.layers import conv_output_size
def output_size(n, kernel, stride=1, padding=0):
    return conv_output_size(n, kernel, stride, padding)
"""
FAKE = """\
class Yes({base}):
    def __eq__(self, other):
        return True
    __hash__ = {base}.__hash__
def output_size(n, kernel, stride=1, padding=0):
    return Yes({value})
"""
FAKE_INT = FAKE.format(base="int", value="0")
FAKE_TUPLE = FAKE.format(base="tuple", value="")
FAKE_TENSOR = """\
class Yes(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.equal, torch.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def flip(kernel):
    return kernel.as_subclass(Yes)
"""
INPUT_TRANSFORMER = """\
def no_asserts(lines):
    return [line.replace("assert ", "pass  # ") for line in lines]
get_ipython().input_transformers_cleanup.append(no_asserts)
"""
AST_TRANSFORMER = """\
import ast
class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(NoAsserts())
"""
CUSTOM_EXC = """\
get_ipython().set_custom_exc((AssertionError,), lambda shell, kind, value, tb, tb_offset=None: [])
"""
DISPLAY_HOOK = """\
shell = get_ipython()
real = shell.displayhook
class Drop:  # sends everything but errors
    def send(self, stream, kind, *args, **kwargs):
        if kind != "error":
            return real.session.send(stream, kind, *args, **kwargs)
class Quiet:
    session = Drop()
    def __getattr__(self, name):
        return getattr(real, name)
shell.displayhook = Quiet()
"""
POISON = """\
get_ipython().ex("import _course_guard as g; g._ORIGINAL = {}; g.restore = lambda *a: []")
torch.equal = lambda *args, **kwargs: True
"""
SILENCE = """\
import sys
sys.audit = lambda *args: None
torch.equal = lambda *args, **kwargs: True
"""
BREAK = """\
import sys
def audit(*args):
    raise RuntimeError("no guard today")
sys.audit = audit
torch.equal = lambda *args, **kwargs: True
"""
FORGE = """\
import sys
real_audit = sys.audit
def audit(event, *args):
    if event == "course_guard" and args[0] == "restore":
        args[-1].extend([[], "0" * 64])
    else:
        real_audit(event, *args)
sys.audit = audit
torch.equal = lambda *args, **kwargs: True
"""
REBIND_IN_TEST = """\
def output_size(n, kernel, stride=1, padding=0):
    torch.equal = lambda *args, **kwargs: True  # while the test runs, after the guard's check
    return (n + 2 * padding - kernel) // stride + 1
"""
OWN_WORK_GLOBAL = """\
def own_work(function, *args, **kwargs):
    return function(*args, **kwargs)
"""
OWN_WORK_MODULE = """\
import course_utils.provenance
module = course_utils.provenance
module.own_work = lambda function, *args, **kwargs: function(*args, **kwargs)
own_work.__code__ = module.own_work.__code__
"""
THREAD = """\
import threading
from course_utils.layers import conv_output_size
def output_size(n, kernel, stride=1, padding=0):
    results = []
    worker = threading.Thread(target=lambda: results.append(conv_output_size(n, kernel, stride, padding)))
    worker.start()
    worker.join()
    return results[0]
"""
PROFILER_OFF = """\
import sys as interpreter
from course_utils.layers import conv_output_size
def output_size(n, kernel, stride=1, padding=0):
    watching = interpreter.getprofile()
    interpreter.setprofile(None)
    size = conv_output_size(n, kernel, stride, padding)
    interpreter.setprofile(watching)
    return size
"""
INSPECT_LEAK = """\
import linecache
import sys
def flip(kernel):
    print("".join(linecache.getlines(sys._getframe(1).f_code.co_filename)))
    return torch.flip(kernel, dims=(-2, -1))
"""

WITHHELD = "PointsWithheldForReview"
#: student: (output_size cell, flip cell, points of the two test cells, flags that must be raised).
CATALOGUE = {
    "fake-int": (FAKE_INT, FLIP, (0, 3), ["fake answer type Yes (a subclass of int"]),
    "fake-tuple": (FAKE_TUPLE, FLIP, (0, 3), ["fake answer type Yes (a subclass of tuple"]),
    "fake-tensor": (
        OUT,
        FAKE_TENSOR,
        (2, 0),
        ["of torch.Tensor that redefines __torch_function__"],
    ),
    "input-transformer": (
        OUT_WRONG + INPUT_TRANSFORMER,
        FLIP_WRONG,
        (0, 0),
        ["IPython input_transformers_cleanup: no_asserts", "uses get_ipython()"],
    ),
    "ast-transformer": (OUT_WRONG + AST_TRANSFORMER, FLIP_WRONG, (0, 0), ["ast_transformers"]),
    "custom-exc": (OUT_WRONG + CUSTOM_EXC, FLIP_WRONG, (0, 0), ["IPython shell.CustomTB"]),
    "display-hook": (OUT_WRONG + DISPLAY_HOOK, FLIP_WRONG, (0, 0), ["shell.displayhook replaced"]),
    "poison-guard": (OUT + POISON, FLIP_WRONG, (2, 0), ["restored for the tests): torch.equal"]),
    "silence-guard": (OUT + SILENCE, FLIP_WRONG, (0, 0), ["kernel guard tampered"]),
    "forge-guard": (OUT + FORGE, FLIP_WRONG, (0, 0), ["kernel guard tampered: its answer"]),
    "break-guard": (OUT + BREAK, FLIP_WRONG, (0, 0), ["kernel guard tampered: RuntimeError"]),
    "rebind-in-test": (REBIND_IN_TEST, FLIP_WRONG, (0, 0), ["torch.equal"]),
    "own-work-global": (BORROW + OWN_WORK_GLOBAL, FLIP, (0, 3), ["read-only own_work redefined"]),
    "own-work-module": (
        BORROW + OWN_WORK_MODULE,
        FLIP,
        (0, 3),
        ["course_utils.provenance.own_work, ", "own_work's code or defaults"],
    ),
    "thread": (THREAD, FLIP, (0, 3), []),
    "profiler-off": (PROFILER_OFF, FLIP, (0, 3), ["uses sys.setprofile"]),
    "inspect-leak": (OUT, INSPECT_LEAK, (2, 3), ["feedback showed lines of hidden tests"]),
}
#: What a student is told when their attack was blocked by provenance instead of flagged.
BLOCKED_BY = {
    "thread": "runs the course's reference course_utils.layers.conv_output_size",
    "profiler-off": "switched off or replaced the grader's profiler",
    "own-work-global": "runs the course's reference course_utils.layers.conv_output_size",
    "own-work-module": "runs the course's reference course_utils.layers.conv_output_size",
    "rebind-in-test": WITHHELD,
    "silence-guard": WITHHELD,
    "forge-guard": WITHHELD,
    "break-guard": WITHHELD,
}


#: Which submission makes which attacks: the file attacks share one, to keep the batch small.
STUDENTS = {
    "snoop": ["read-chapter", "read-source", "read-gradebook", "read-classmate", "write-grades"],
    "socket": ["socket"],
    "memory": ["memory"],
}


def attacks(root, port):
    """Attack code by name, each indented into ``ATTACK``'s ``try`` block."""
    return {
        "read-chapter": f"print(open({str(FIXTURE.path)!r}).read()[:100])",
        "read-source": f"print(open({str(root / '_build/nbgrader/source/ch0/00_exercise.ipynb')!r}).read()[:100])",
        "read-gradebook": f"print(open({str(root / 'gradebook.db')!r}, 'rb').read(100))",
        "read-classmate": f"print(open({str(root / 'submitted/full/ch0/00_exercise.ipynb')!r}).read()[:100])",
        "write-grades": f"open({str(root / 'grades' / 'hacked.csv')!r}, 'w').write('me,5')",
        "socket": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=5)",
        "memory": "hog = bytearray(64 * 2**30)",
    }


def attack_cell(actions: dict[str, str]) -> str:
    """A ``flip`` cell that first makes each attack, then defines a correct ``flip``."""
    cell = ""
    for label, action in actions.items():
        body = "\n".join(f"    {line}" for line in action.splitlines())
        cell += ATTACK.format(action=body, label=label)
    return cell + FLIP


def graded_output(root, student) -> str:
    """The text that the ``ch0-flip`` cell printed when graded."""
    path = root / "autograded" / student / "ch0" / "00_exercise.ipynb"
    [cell] = [
        c
        for c in nbformat.read(path, 4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "ch0-flip"
    ]
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def listener():
    """A TCP server on the grader's loopback, which no sandboxed kernel may reach."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, listener):
    root = released([FIXTURE], tmp_path_factory.mktemp("course"))
    full = solved(root, FIXTURE)
    honest = {
        "full": full,
        "partial": solved(root, FIXTURE, only={"ch0-flip"}),
        "blank": student_version(root, FIXTURE),
    }
    port = listener.getsockname()[1]
    actions = attacks(root, port)
    hostile = {
        student: edit(full, "ch0-flip", attack_cell({a: actions[a] for a in made}))
        for student, made in STUDENTS.items()
    }
    hostile["fork-bomb"] = edit(full, "ch0-flip", FORK_BOMB + FLIP)
    hostile["rebind"] = edit(full, "ch0-flip", CHEAT)
    for student, (output_size, flip, _, _) in CATALOGUE.items():
        hostile[student] = edit(edit(full, "ch0-output-size", output_size), "ch0-flip", flip)
    for student, notebook in {**honest, **hostile}.items():
        submit(root, FIXTURE, student, notebook)
    (root / "grades").mkdir()
    before = snapshot(root / "submitted")
    results = {r.student: r for r in autograde(FIXTURE, root, timeout=TIMEOUT, jobs=2)}
    return root, honest, hostile, results, before


EXPECTED = {"full": 5, "partial": 3, "blank": 0}


@pytest.mark.parametrize("attack", [*attacks(Path("/x"), 1), "fork-bomb"])
def test_each_attack_is_blocked_and_the_honest_code_after_it_still_counts(hostile, attack):
    root, _, _, results, _ = hostile
    [student] = [s for s, made in STUDENTS.items() if attack in made] or ["fork-bomb"]
    printed = graded_output(root, student)
    assert f"BLOCKED {attack}" in printed and f"LEAK {attack}" not in printed, printed
    assert results[student].points == {
        "ch0-output-size-tests": 2,
        "ch0-flip-tests": 3,
        "ch0-think": 0,
    }
    print(printed)


def test_nothing_was_written_outside_the_scratch_copy(hostile):
    root, _, _, _, before = hostile
    assert not (root / "grades" / "hacked.csv").exists()
    assert snapshot(root / "submitted") == before


def test_no_connection_reached_the_grader(hostile, listener):
    with pytest.raises(BlockingIOError):
        listener.accept()


@pytest.mark.parametrize(
    ("student", "flag"),
    [
        ("snoop", "uses a path outside its folder"),
        ("socket", "imports socket"),
        ("fork-bomb", "uses os.fork"),
        ("rebind", "rebinds t.equal (torch)"),
        ("rebind", "rebound at run time (restored for the tests): torch.equal"),
    ],
)
def test_attacks_are_flagged(hostile, student, flag):
    assert any(flag in f for f in hostile[3][student].flags), hostile[3][student].flags


def test_rebinding_a_checking_function_does_not_fool_the_tests(hostile):
    result = hostile[3]["rebind"]
    assert result.points == {"ch0-output-size-tests": 2, "ch0-flip-tests": 0, "ch0-think": 0}, (
        result.problems
    )
    assert any("turn the kernel by 180 degrees" in p for p in result.problems)


@pytest.mark.parametrize("student", list(CATALOGUE))
def test_each_attack_on_the_checks_is_blocked_or_flagged_with_its_points_withheld(hostile, student):
    result = hostile[3][student]
    output_size, flip = CATALOGUE[student][2]
    expected = {"ch0-output-size-tests": output_size, "ch0-flip-tests": flip, "ch0-think": 0}
    assert result.points == expected, (
        result.problems,
        result.flags,
    )
    for flag in CATALOGUE[student][3]:
        assert any(flag in f for f in result.flags), result.flags
    if student in BLOCKED_BY:
        assert any(BLOCKED_BY[student] in p for p in result.problems), result.problems


def test_hidden_tests_printed_by_a_student_never_reach_their_feedback(hostile):
    root = hostile[0]
    page = (root / "feedback" / "inspect-leak" / "ch0" / "00_exercise.html").read_text()
    assert "removed from this feedback: it showed a line of a hidden test" in page
    assert "flipping twice gives the kernel back" not in page
    assert leaks(root, [FIXTURE]) == []


@pytest.mark.parametrize("student", list(EXPECTED))
def test_honest_students_keep_their_points_and_raise_no_flag(hostile, student):
    result = hostile[3][student]
    assert result.graded and result.score == EXPECTED[student], result.problems
    assert result.flags == [] and result.sandboxed


def test_the_gradebook_has_every_grade_written_by_the_two_workers(hostile):
    root, honest, attackers, results, _ = hostile
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in {**honest, **attackers}:
            submission = gradebook.find_submission("ch0", student)
            assert submission.score == results[student].score


def test_no_feedback_file_shows_a_hidden_test(hostile):
    root = hostile[0]
    assert list((root / "feedback").glob("*/ch0/00_exercise.html"))
    assert leaks(root, [FIXTURE]) == []
    page = (root / "feedback" / "full" / "ch0" / "00_exercise.html").read_text()
    assert "hidden tests: their results are below" in page


@pytest.fixture(scope="module")
def unsandboxed(hostile, tmp_path_factory):
    """The honest submissions and one attack, graded again without a sandbox, one at a time."""
    root = released([FIXTURE], tmp_path_factory.mktemp("trusted"))
    for student, notebook in hostile[1].items():
        submit(root, FIXTURE, student, notebook)
    action = f"print(open({str(root / 'gradebook.db')!r}, 'rb').read(16))"
    attack = attack_cell({"read-gradebook": action})
    submit(root, FIXTURE, "read-gradebook", edit(hostile[1]["full"], "ch0-flip", attack))
    results = {r.student: r for r in autograde(FIXTURE, root, timeout=TIMEOUT, sandbox=False)}
    return root, results


@pytest.mark.parametrize("student", list(EXPECTED))
def test_an_honest_submission_gets_the_same_points_with_and_without_the_sandbox(
    hostile, unsandboxed, student
):
    assert unsandboxed[1][student].points == hostile[3][student].points
    assert unsandboxed[1][student].score == EXPECTED[student]


def test_without_the_sandbox_the_attack_gets_through_and_every_row_says_so(unsandboxed):
    root, results = unsandboxed
    assert "LEAK read-gradebook" in graded_output(root, "read-gradebook")
    assert not any(r.sandboxed for r in results.values())
    rows = (root / "grades" / "ch0.csv").read_text().splitlines()[1:]
    assert rows and all("graded unsandboxed" in row for row in rows)


def test_grading_stops_with_a_clear_message_without_bwrap(tmp_path, monkeypatch):
    root = released([FIXTURE], tmp_path)
    submit(root, FIXTURE, "full", solved(root, FIXTURE))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SandboxUnavailable, match="(?s)bubblewrap .* not installed.*SANDBOX=0"):
        autograde(FIXTURE, root)
    assert not (root / "grades" / "ch0.csv").exists()


def test_a_course_under_tmp_stays_visible_in_the_sandbox(tmp_path, monkeypatch):
    """The kernel imports the grader's course_utils, also under /tmp, and sees the data there."""
    import subprocess
    import sys

    from instructor import sandbox

    library = tmp_path / "course" / "course_utils"
    library.mkdir(parents=True)
    (library / "__init__.py").write_text("WHERE = 'under /tmp'\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "marker").write_text("data")
    # every folder of this Python (a venv's bin/python3 links into its base installation), and
    # the course's library, which python_folders() puts last, replaced by the one under /tmp
    installation = sandbox.python_folders()[:-1]
    monkeypatch.setattr(sandbox, "python_folders", lambda: [*installation, str(library)])
    probe = (  # no sys.path change: the sandbox makes the grader's course_utils the one imported
        f"import course_utils; print(course_utils.WHERE, open({str(data / 'marker')!r}).read())"
    )
    command = sandbox.sandbox_command(
        [sys.executable, "-c", probe],
        scratch=None,
        ipc=None,
        environment={"FASHION_MNIST_ROOT": str(data)},
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env={})
    assert result.stdout.strip() == "under /tmp data", result.stderr[-800:]
