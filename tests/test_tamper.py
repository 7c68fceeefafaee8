"""Tamper flags (instructor/tamper.py) and the kernel guard (instructor/kernel_guard.py), without grading."""

import builtins
import functools
import importlib
import itertools
import os
import sys

import nbformat
import pytest
import torch

from instructor import tamper
from instructor.execute import GuardedExecute


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
