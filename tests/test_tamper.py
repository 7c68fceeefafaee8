"""Tamper flags (instructor/tamper.py) and the kernel guard (instructor/kernel_guard.py), without grading."""

import builtins
import collections
import dataclasses
import functools
import importlib
import itertools
import os
import sys
import types

import nbformat
import pytest
import torch

from instructor import tamper
from instructor.execute import GuardedExecute, helper_names
from instructor.feedback import REDACTED, HideTests


def notebook(*sources, locked=()):
    cells = []
    for index, source in enumerate(sources):
        meta = {"grade_id": f"c{index}", "solution": True, "locked": index in locked}
        cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta}))
    return nbformat.v4.new_notebook(cells=cells)


@pytest.mark.parametrize(
    ("source", "flag"),
    [
        ("import torch as t\nt.allclose = lambda *a, **k: True", "rebinds t.allclose (torch)"),
        ("torch.testing.assert_close = print", "rebinds torch.testing.assert_close (torch)"),
        ("np.isclose = f", "rebinds np.isclose (numpy)"),
        ("setattr(np, 'isclose', f)", "calls setattr(np, ...) (numpy)"),
        ("import builtins\nbuiltins.isinstance = f", "rebinds builtins.isinstance (builtins)"),
        ("__builtins__.len = f", "uses __builtins__"),
        ("del torch.equal", "deletes torch.equal (torch)"),
        ("vars(torch)['equal'] = f", "rebinds vars(torch)['equal'] (torch)"),
        ("torch.Tensor.__eq__ = f", "rebinds torch.Tensor.__eq__ (torch)"),
        ("from torch import testing as tt\ntt.assert_close = f", "rebinds tt.assert_close (torch)"),
        ("import unittest\nunittest.TestCase.assertEqual = f", "(unittest)"),
        (
            "from course_utils.models import AutoEncoder\nAutoEncoder.forward = f",
            "rebinds AutoEncoder.forward (course_utils)",
        ),
        ("from unittest import mock", "imports unittest.mock (patching or mocking)"),
        ("from unittest.mock import patch\npatch('torch.equal')", "imports patch"),
        ("def test(monkeypatch):\n    monkeypatch.setattr(torch, 'equal', f)", "monkeypatch"),
        ("import sys\nsys.modules['torch'] = fake", "uses sys.modules"),
        ("import sys\nsys.settrace(f)", "uses sys.settrace"),
        ("import importlib\nimportlib.reload(torch)", "imports importlib"),
        ("m = __import__('torch')", "calls __import__()"),
        ("exec('x = 1')", "calls exec()"),
        ("eval(text)", "calls eval()"),
        ("code = compile(text, 'x', 'exec')", "calls compile()"),
        ("open('/work/main/gradebook.db').read()", "path outside its folder: '/work/main"),
        ("open('../../chapters/01.ipynb')", "path outside its folder: '../../chapters"),
        ("from pathlib import Path\nPath('~/.ssh/id_rsa').read_text()", "outside its folder"),
        ("!cat /etc/passwd", "runs a shell command or magic"),
        ("import socket", "imports socket (network or processes)"),
        ("import subprocess", "imports subprocess (network or processes)"),
        ("import os\nos.system('ls')", "uses os.system (runs processes)"),
        ("import gc\ngc.get_objects()", "imports gc"),
        ("_course_guard.restore = f", "uses _course_guard"),
        ("get_ipython().ex('import _course_guard')", "uses get_ipython()"),
        ("ip = get_ipython()\nip.input_transformers_cleanup.append(f)", "uses get_ipython()"),
        ("import sys as s\ns.audit = f", "uses sys.audit"),
        ("from sys import _getframe", "imports sys._getframe"),
        ("import inspect\nprint(inspect.stack()[1].code_context)", "imports inspect"),
        ("print(frame.f_back.f_code)", "uses frame.f_back"),
        ("cells = guard.restore.__closure__", "uses guard.restore.__closure__"),
        ("import linecache", "imports linecache"),
        ("import _thread", "imports _thread"),
        (
            "class Yes(torch.Tensor):\n    def __eq__(self, other):\n        return True",
            "class Yes redefines __eq__",
        ),
        ("class Yes(tuple):\n    __eq__ = lambda self, other: True", "class Yes redefines __eq__"),
        (
            "class T(torch.Tensor):\n    @classmethod\n    def __torch_function__(c, f, t, a=(), k=None):"
            "\n        return True",
            "class T redefines __torch_function__",
        ),
    ],
)
def test_each_kind_of_tampering_is_flagged(source, flag):
    found = tamper.flags(notebook(source))
    assert any(flag in f for f in found), found
    assert all(f.startswith("c0: ") for f in found)


@pytest.mark.parametrize(
    "source",
    [
        "def flip(kernel):\n    return torch.flip(kernel, dims=(-2, -1))",
        "x = torch.zeros(3)\nx[0] = 1.0\nmodel.eval()\nfast = torch.compile(model)",
        "import re\npattern = re.compile('a+')\nresult = {}\nresult['a'] = 1",
        "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layer = torch.nn.Linear(2, 2)",
        "with open('notes.txt', 'w') as handle:\n    handle.write('mine')",
        "torch.manual_seed(0)\nassert torch.allclose(a, b)\nprint(isinstance(a, torch.Tensor))",
        "def broken(:\n    pass",  # a syntax error is graded, not flagged
        "class Net(torch.nn.Module):\n    def forward(self, x):\n        return x.flip(-1)\n"
        "    def __len__(self):\n        return 2",
        "from collections import namedtuple\nPair = namedtuple('Pair', 'a b')",
    ],
)
def test_honest_code_raises_no_flag(source):
    assert tamper.flags(notebook(source)) == []


def test_an_alias_made_in_one_cell_counts_in_the_next():
    found = tamper.flags(notebook("import torch as t", "t.equal = f"))
    assert found == ["c1: rebinds t.equal (torch)"]


def test_read_only_cells_are_not_read_they_are_restored_before_grading():
    assert tamper.flags(notebook("exec('x')", "torch.equal = f", locked={0, 1})) == []


GUARDS = itertools.count()


@pytest.fixture
def guard():
    """A fresh copy of the kernel guard, loaded in this process; everything restored afterwards."""
    sys.modules.pop("_course_guard", None)
    os.environ["COURSE_GUARD_EVENT"] = f"course_guard.test-{next(GUARDS)}"  # one hook per copy
    spec = importlib.util.spec_from_file_location(
        "_course_guard", tamper.__file__.replace("tamper.py", "kernel_guard.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    originals = torch.allclose, torch.Tensor.__eq__, builtins.isinstance
    yield module
    torch.allclose, torch.Tensor.__eq__, builtins.isinstance = originals


def test_the_guard_restores_rebound_checking_functions_and_names_them(guard):
    original = torch.allclose, torch.Tensor.__eq__, builtins.isinstance
    torch.allclose = lambda *args, **kwargs: True
    torch.Tensor.__eq__ = lambda self, other: True
    builtins.isinstance = lambda *args: True
    del torch.equal
    assert guard.restore() == [
        "builtins.isinstance",
        "torch.Tensor.__eq__",
        "torch.allclose",
        "torch.equal",
    ]
    assert (torch.allclose, torch.Tensor.__eq__, builtins.isinstance) == original
    assert not torch.allclose(torch.zeros(2), torch.ones(2))
    assert guard.restore() == []


def test_after_a_timeout_the_later_cells_share_the_grace_budget():
    execute = GuardedExecute(timeout=60, grace_seconds=15)
    execute._grace_deadline = None
    cell = nbformat.v4.new_code_cell("pass")
    assert execute._get_timeout(cell) == 60
    import time

    execute._grace_deadline = time.monotonic() + 15
    assert 1 <= execute._get_timeout(cell) <= 15
    execute._grace_deadline = time.monotonic() - 5  # spent: each later cell gets one second
    assert execute._get_timeout(cell) == 1


def test_pytorchs_own_wrapping_of_manual_seed_is_not_a_rebinding(guard):
    original = torch.manual_seed
    importlib.import_module("torch._dynamo")  # wraps torch.manual_seed on first import

    wrapped = torch.manual_seed
    assert guard.restore() == []
    assert torch.manual_seed is wrapped and (wrapped is original or wrapped.__wrapped__ is original)
    torch.manual_seed = functools.wraps(original)(lambda seed: None)  # a student's "wrapper"
    assert guard.restore() == ["torch.manual_seed"]


def test_the_guard_defuses_fake_answers_made_outside_the_library(guard):
    class FakeTensor(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func is torch.equal:
                return True
            return super().__torch_function__(func, types, args, kwargs or {})

    class FakeTuple(tuple):
        def __eq__(self, other):
            return True

        __hash__ = tuple.__hash__

    class FakeInt(int):
        __eq__ = lambda self, other: True  # noqa: E731
        __hash__ = int.__hash__

    class Anything:  # not even a subclass of what the test compares with
        def __eq__(self, other):
            return True

    Pair = collections.namedtuple("Pair", "size dim")  # honest: fields named like methods

    @dataclasses.dataclass
    class Point:  # honest: dataclasses write __eq__
        x: int

    fake = torch.zeros(2).as_subclass(FakeTensor)
    assert torch.equal(fake, torch.ones(2)) and FakeTuple() == (1, 2) and FakeInt(0) == 26
    found = guard.restore()
    for name, what in [
        ("FakeTensor", "a subclass of torch.Tensor that redefines __torch_function__"),
        ("FakeTuple", "a subclass of tuple that redefines __eq__"),
        ("FakeInt", "a subclass of int that redefines __eq__"),
        ("Anything", "a class that redefines __eq__"),
    ]:
        assert (
            f"fake answer type {name} ({what} in the notebook): the redefinition was removed"
            in (found)
        ), found
    assert len(found) == 4, found
    assert not torch.equal(fake, torch.ones(2)) and torch.equal(fake, torch.zeros(2))
    assert FakeTuple() != (1, 2) and FakeInt(0) != 26 and Anything() != Anything()
    assert Pair(1, 2) == (1, 2) and Point(1) == Point(1) != Point(2)
    assert guard.restore() == []


def test_the_guard_restores_course_utils_submodules_and_the_code_of_their_functions(guard):
    from course_utils import provenance

    original, code = provenance.own_work, provenance.own_work.__code__
    module = provenance  # through a plain variable: what the static flags cannot follow
    module.own_work = lambda function, *args, **kwargs: function(*args, **kwargs)
    original.__code__ = module.own_work.__code__
    try:
        found = guard.restore()
    finally:
        provenance.own_work, original.__code__ = original, code
    assert "course_utils.provenance.own_work" in found
    assert "course_utils.provenance.own_work's code or defaults" in found
    assert provenance.own_work is original and original.__code__ is code


def test_the_guard_puts_back_the_interpreters_profiler_switches(guard):
    setprofile = sys.setprofile
    sys.setprofile = lambda function: None
    try:
        assert guard.restore() == ["sys.setprofile"]
    finally:
        sys.setprofile = setprofile
    assert sys.setprofile is setprofile


SIGNED = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_course_guard", sys.argv[1])
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)
start, again, answer = [], [], []
sys.audit("course_guard", "start", start)
sys.audit("course_guard", "start", again)
sys.audit("course_guard", "restore", "nonce-1", answer)
print(repr([start, again, answer]))
sys.addaudithook(lambda *args: None)  # refused once grading has started: the guard notes it
later = []
sys.audit("course_guard", "restore", "nonce-2", later)
print(repr(later[0]))
"""


def test_the_guard_signs_its_answers_with_a_key_it_hands_out_once():
    import ast
    import subprocess

    from instructor.kernel_guard import verify

    path = tamper.__file__.replace("tamper.py", "kernel_guard.py")
    run = subprocess.run(
        [sys.executable, "-c", SIGNED, path], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    first, second = run.stdout.strip().splitlines()
    (key, seconds), again, answer = ast.literal_eval(first)
    assert again == [] and len(key) == 64
    assert {"loaded_at", "guard_imports", "guard_snapshot"} <= seconds.keys()  # for the bench
    assert verify(key, "nonce-1", answer) == []
    assert verify(key, "nonce-2", answer) is None  # an old answer replayed
    assert verify(key, "nonce-1", [["torch.equal"], answer[1]]) is None  # findings changed
    assert verify(key, "nonce-1", [[], "0" * 64]) is None  # forged without the key
    assert verify(key, "nonce-1", None) is None  # silenced
    assert ast.literal_eval(second) == ["sys.addaudithook() called (reaches the guard)"]


def test_helper_names_are_the_functions_classes_modules_and_checks_of_a_read_only_cell():
    source = (
        "import torch\nimport numpy as np\nfrom course_utils.provenance import own_work as mine\n"
        "from course_utils.models import AutoEncoder\ndef show(x):\n    pass\nclass Net:\n    pass\n"
        "data = 1"
    )
    assert helper_names(source) == {"torch", "np", "mine", "show", "Net"}
    assert helper_names("%matplotlib inline") == set()


def test_feedback_redacts_every_output_line_that_shows_a_hidden_test():
    hidden = 'assert torch.equal(flip(flip(k)), k), "flipping twice gives the kernel back"'
    test = nbformat.v4.new_code_cell(
        f"assert flip(k) is not None\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n",
        metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t"}},
    )
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"k is fine\n    {hidden}\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": repr([hidden])}),
    ]
    page = nbformat.v4.new_notebook(cells=[test])
    HideTests().preprocess(page, {})
    stream, result = test.outputs
    assert stream.text == f"k is fine\n{REDACTED}\n"
    assert result.data["text/plain"] == REDACTED
    assert "flipping twice" not in test.source and "assert flip(k) is not None" in test.source


def test_the_guard_puts_back_a_module_whose_class_was_swapped_to_lie(guard):
    class Lying(types.ModuleType):
        def __getattribute__(self, name):
            if name == "equal":
                return lambda *args, **kwargs: True
            return super().__getattribute__(name)

    plain = type(torch)
    torch.__class__ = Lying
    try:
        assert torch.equal(torch.zeros(1), torch.ones(1))
        assert guard.restore() == ["torch's class replaced"]
    finally:
        torch.__class__ = plain
    assert type(torch) is plain and not torch.equal(torch.zeros(1), torch.ones(1))
