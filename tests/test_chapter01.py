"""Chapter 1's exercise: its test cells pass the solution and fail the mistakes students make."""

import re

import pytest
from kernel import HIDDEN, ChapterKernel

pytestmark = pytest.mark.slow

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n.*?### END SOLUTION[ \t]*(\n|\Z)", re.S | re.M)


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("01_transposed_convolutions") as kernel:
        kernel.run_before("ch1-conv-undo")
        yield kernel


def answer(kernel, grade, body):
    """The solution cell ``grade`` with its solution replaced by ``body`` (indented 8 spaces)."""
    source = kernel.cell(grade)
    assert SOLUTION.search(source), f"{grade} has no solution block"
    indented = "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return SOLUTION.sub(lambda _: indented, source)


def check(kernel, solution, tests, body, visible=True):
    """Define the answer ``body``; its tests must fail (the visible part alone too, if asked)."""
    kernel.run(answer(kernel, solution, body))
    assert kernel.fails(tests), f"{tests} passes the mistake:\n{body}"
    if visible:
        assert kernel.visible_fails(tests), f"the visible part of {tests} passes:\n{body}"


def test_solutions_pass_their_tests(chapter):
    for solution, tests in [
        ("ch1-conv-undo", "ch1-conv-undo-tests"),
        ("ch1-pool-undo", "ch1-pool-undo-tests"),
        ("ch1-relu-undo", "ch1-relu-undo-tests"),
    ]:
        chapter.run_cell(solution)
        chapter.run_cell(tests)  # raises CellFailed if a test fails


def test_test_cells_have_hidden_tests(chapter):
    for tests in ("ch1-conv-undo-tests", "ch1-pool-undo-tests", "ch1-relu-undo-tests"):
        assert HIDDEN.search(chapter.cell(tests)), tests


CONV_MISTAKES = {
    "a fresh ConvTranspose2d": (
        """
output_padding = [n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, k, s, p, d in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding, self.dilation)]
fresh = nn.ConvTranspose2d(self.out_channels, self.in_channels, self.kernel_size, self.stride, self.padding, output_padding, self.groups, bias=False, dilation=self.dilation)
return fresh(y)
""",
        True,
    ),
    "ignoring stride, padding and dilation": ("return F.conv_transpose2d(y, self.weight)", True),
    "no output_padding (loses a row)": (
        "return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, 0, self.groups, self.dilation)",
        True,
    ),
    "output_padding stride - 1 whatever the size": (
        "return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, [s - 1 for s in self.stride], self.groups, self.dilation)",
        False,
    ),
    "ignoring dilation": (
        """
output_padding = [n - ((m - 1) * s - 2 * p + (k - 1) + 1) for n, m, k, s, p in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding)]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, self.groups)
""",
        False,
    ),
    "ignoring groups": (
        """
output_padding = [n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, k, s, p, d in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding, self.dilation)]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, 1, self.dilation)
""",
        False,
    ),
    "the flipped kernel of a true convolution": (
        """
output_padding = [n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, k, s, p, d in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding, self.dilation)]
return F.conv_transpose2d(y, self.weight.flip(-1, -2), None, self.stride, self.padding, output_padding, self.groups, self.dilation)
""",
        True,
    ),
    "calling the course's reference": (
        """
from course_utils.layers import UndoableConv2d as Reference
reference = Reference(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation, self.groups, bias=False)
reference.weight = self.weight
_, context = reference(torch.zeros(y.shape[0], self.in_channels, *input_size))
return reference.undo(y, context)
""",
        True,
    ),
}


@pytest.mark.parametrize("mistake", list(CONV_MISTAKES))
def test_conv_tests_fail(chapter, mistake):
    body, visible = CONV_MISTAKES[mistake]
    check(chapter, "ch1-conv-undo", "ch1-conv-undo-tests", body, visible)


POOL_MISTAKES = {
    "unpooling without the output size": (
        "return F.max_unpool2d(y, switches, self.kernel_size, self.stride, self.padding)"
    ),
    "upsampling instead of the switches": "return F.interpolate(y, size=tuple(input_size))",
    "calling the course's reference": """
from course_utils.layers import Context, UndoableMaxPool2d as Reference
reference = Reference(self.kernel_size, self.stride, self.padding)
return reference.undo(y, Context(reference, (*y.shape[:2], *input_size), switches))
""",
}


@pytest.mark.parametrize("mistake", list(POOL_MISTAKES))
def test_pool_tests_fail(chapter, mistake):
    check(chapter, "ch1-pool-undo", "ch1-pool-undo-tests", POOL_MISTAKES[mistake])


RELU_MISTAKES = {
    "the gradient rule": "return y * positive",
    "guided backpropagation": "return F.relu(y) * positive",
    "the identity": "return y",
    "the absolute value": "return y.abs()",
    "calling the course's reference": """
from course_utils.layers import Context, UndoableReLU as Reference
reference = Reference()
return reference.undo(y, Context(reference, y.shape, positive))
""",
}


@pytest.mark.parametrize("mistake", list(RELU_MISTAKES))
def test_relu_tests_fail(chapter, mistake):
    check(chapter, "ch1-relu-undo", "ch1-relu-undo-tests", RELU_MISTAKES[mistake])
