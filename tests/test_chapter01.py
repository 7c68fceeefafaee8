"""Chapter 1's exercise: its test cells pass correct answers and fail the mistakes students make.

Each task's test cell must pass the instructor's solution and a correct answer written differently
(hidden tests included), and fail realistic wrong answers and every way of reusing the library's
reference layers, in the fast (grading) mode that ``ChapterKernel`` runs.
"""

import nbformat
import pytest
from kernel import CHAPTERS, HIDDEN, CellFailed, ChapterKernel, grade_id

pytestmark = pytest.mark.slow

CHAPTER = "01_transposed_convolutions"
TESTS = {
    "ch1-conv-undo": "ch1-conv-undo-tests",
    "ch1-pool-undo": "ch1-pool-undo-tests",
    "ch1-relu-undo": "ch1-relu-undo-tests",
}

#: one correct answer per solution cell, written differently from the instructor's
ALTERNATIVES = {
    "ch1-conv-undo": """
# transpose without output_padding first, then ask for the rows and columns that are missing
rough = F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, 0, self.groups, self.dilation)
missing = [n - m for n, m in zip(input_size, rough.shape[-2:])]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, missing, self.groups, self.dilation)
""",
    "ch1-pool-undo": """
n, c = y.shape[:2]
height, width = input_size
one_hot = F.one_hot(switches.flatten(2), height * width).to(y.dtype)  # n, c, outputs, pixels
return (y.flatten(2).unsqueeze(-1) * one_hot).sum(dim=2).view(n, c, height, width)
""",
    "ch1-relu-undo": """
rules = {"deconvnet": (True, False), "backprop": (False, True), "guided": (True, True)}
if rule not in rules:
    raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(rules)}")
clip, mask = rules[rule]
if clip:
    y = y.clamp(min=0)
if mask:
    y = y * positive
return y
""",
}

#: more correct answers: (solution cell, body)
MORE_ALTERNATIVES = {
    "conv: the backward pass itself": (
        "ch1-conv-undo",
        """
shape = (y.shape[0], self.in_channels, *input_size)
return torch.nn.grad.conv2d_input(shape, self.weight, y, self.stride, self.padding, self.dilation, self.groups)
""",
    ),
    "pool: index_put_ with accumulate": (
        "ch1-pool-undo",
        """
n, c = y.shape[:2]
flat = y.new_zeros(n * c, input_size[0] * input_size[1])
rows = torch.arange(n * c).unsqueeze(1).expand(-1, y[0, 0].numel())
flat.index_put_((rows, switches.reshape(n * c, -1)), y.reshape(n * c, -1), accumulate=True)
return flat.view(n, c, *input_size)
""",
    ),
    "relu: match and masks": (
        "ch1-relu-undo",
        """
match rule:
    case "deconvnet":
        return y.clamp(min=0)
    case "backprop":
        return y * positive
    case "guided":
        return y.clamp(min=0) * positive
    case _:
        raise ValueError(f"rule {rule!r} is none of deconvnet, backprop, guided")
""",
    ),
}

OUTPUT_PADDING = (
    "output_padding = [n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, k, s, p, d in "
    "zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding, self.dilation)]"
)

#: (solution cell, body, whether the visible tests alone catch it)
MISTAKES = {
    "conv: a fresh ConvTranspose2d": (
        "ch1-conv-undo",
        f"""
{OUTPUT_PADDING}
fresh = nn.ConvTranspose2d(self.out_channels, self.in_channels, self.kernel_size, self.stride, self.padding, output_padding, self.groups, bias=False, dilation=self.dilation)
return fresh(y)
""",
        True,
    ),
    "conv: ignoring stride, padding and dilation": (
        "ch1-conv-undo",
        "return F.conv_transpose2d(y, self.weight)",
        True,
    ),
    "conv: no output_padding (loses a row)": (
        "ch1-conv-undo",
        "return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, 0, self.groups, self.dilation)",
        True,
    ),
    "conv: output_padding stride - 1 whatever the size": (
        "ch1-conv-undo",
        "return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, [s - 1 for s in self.stride], self.groups, self.dilation)",
        False,
    ),
    "conv: ignoring dilation": (
        "ch1-conv-undo",
        """
output_padding = [n - ((m - 1) * s - 2 * p + (k - 1) + 1) for n, m, k, s, p in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding)]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, self.groups)
""",
        False,
    ),
    "conv: ignoring groups": (
        "ch1-conv-undo",
        f"""
{OUTPUT_PADDING}
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, 1, self.dilation)
""",
        False,
    ),
    "conv: adding the bias": (
        "ch1-conv-undo",
        f"""
{OUTPUT_PADDING}
x = F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, self.groups, self.dilation)
return x + self.bias.mean()
""",
        True,
    ),
    "conv: the flipped kernel of a true convolution": (
        "ch1-conv-undo",
        f"""
{OUTPUT_PADDING}
return F.conv_transpose2d(y, self.weight.flip(-1, -2), None, self.stride, self.padding, output_padding, self.groups, self.dilation)
""",
        True,
    ),
    "conv: calling the course's reference": (
        "ch1-conv-undo",
        """
from course_utils.layers import UndoableConv2d as Reference
reference = Reference(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation, self.groups, bias=False)
reference.weight = self.weight
_, context = reference(torch.zeros(y.shape[0], self.in_channels, *input_size))
return reference.undo(y, context)
""",
        True,
    ),
    "pool: F.max_unpool2d keeps one value where windows overlap": (
        "ch1-pool-undo",
        "return F.max_unpool2d(y, switches, self.kernel_size, self.stride, self.padding, output_size=input_size)",
        True,
    ),
    "pool: scatter overwrites instead of adding": (
        "ch1-pool-undo",
        """
n, c = y.shape[:2]
x = y.new_zeros(n, c, input_size[0] * input_size[1])
return x.scatter(2, switches.flatten(2), y.flatten(2)).view(n, c, *input_size)
""",
        True,
    ),
    "pool: unpooling without the output size": (
        "ch1-pool-undo",
        "return F.max_unpool2d(y, switches, self.kernel_size, self.stride, self.padding)",
        True,
    ),
    "pool: upsampling instead of the switches": (
        "ch1-pool-undo",
        "return F.interpolate(y, size=tuple(input_size))",
        True,
    ),
    "pool: calling the course's reference": (
        "ch1-pool-undo",
        """
from course_utils.layers import Context, UndoableMaxPool2d as Reference
reference = Reference(self.kernel_size, self.stride, self.padding, self.dilation)
return reference.undo(y, Context(reference, (*y.shape[:2], *input_size), switches))
""",
        True,
    ),
    "relu: the gradient rule whatever the rule": (
        "ch1-relu-undo",
        "return torch.where(positive, y, 0.0)",
        True,
    ),
    "relu: the deconvnet rule whatever the rule": ("ch1-relu-undo", "return F.relu(y)", True),
    "relu: deconvnet and backprop swapped": (
        "ch1-relu-undo",
        """
if rule == "backprop":
    return F.relu(y)
if rule == "deconvnet":
    return y * positive
if rule == "guided":
    return F.relu(y) * positive
raise ValueError("rule must be deconvnet, backprop or guided")
""",
        True,
    ),
    "relu: guided without the mask": (
        "ch1-relu-undo",
        """
if rule in ("deconvnet", "guided"):
    return F.relu(y)
if rule == "backprop":
    return y * positive
raise ValueError("rule must be deconvnet, backprop or guided")
""",
        True,
    ),
    "relu: backprop masked by the signal instead of the forward input": (
        "ch1-relu-undo",
        """
if rule == "deconvnet":
    return F.relu(y)
if rule == "backprop":
    return y * (y > 0)
if rule == "guided":
    return F.relu(y) * positive
raise ValueError("rule must be deconvnet, backprop or guided")
""",
        True,
    ),
    "relu: an unknown rule falls back to deconvnet": (
        "ch1-relu-undo",
        """
if rule == "backprop":
    return y * positive
if rule == "guided":
    return F.relu(y) * positive
return F.relu(y)
""",
        True,
    ),
    "relu: an error that does not say which rules exist": (
        "ch1-relu-undo",
        """
if rule == "deconvnet":
    return F.relu(y)
if rule == "backprop":
    return y * positive
if rule == "guided":
    return F.relu(y) * positive
raise ValueError("unknown rule")
""",
        True,
    ),
    "relu: editing the signal in place": (
        "ch1-relu-undo",
        """
if rule not in ("deconvnet", "backprop", "guided"):
    raise ValueError("rule must be deconvnet, backprop or guided")
if rule != "backprop":
    y.clamp_(min=0)
if rule != "deconvnet":
    y.mul_(positive)
return y
""",
        True,
    ),
    "relu: calling the course's reference": (
        "ch1-relu-undo",
        """
from course_utils.layers import Context, UndoableReLU as Reference
reference = Reference()
return reference.undo(y, Context(reference, y.shape, positive), rule)
""",
        True,
    ),
}

#: whole solution cells that reuse the library's layers: (solution cell, cell source)
REUSED = {
    "conv: subclassing the reference": (
        "ch1-conv-undo",
        """
import course_utils.layers

class UndoableConv2d(course_utils.layers.UndoableConv2d):
    pass
""",
    ),
    "conv: aliasing the reference's undo": (
        "ch1-conv-undo",
        """
from course_utils.layers import Context, UndoableConv2d as Reference

class UndoableConv2d(nn.Conv2d):
    def forward(self, x):
        return super().forward(x), Context(self, x.shape)

    _pads = Reference._pads
    undo = Reference.undo
""",
    ),
    "pool: subclassing the reference": (
        "ch1-pool-undo",
        """
import course_utils.layers

class UndoableMaxPool2d(course_utils.layers.UndoableMaxPool2d):
    pass
""",
    ),
    "pool: aliasing the reference's methods": (
        "ch1-pool-undo",
        """
from course_utils.layers import UndoableMaxPool2d as Reference

class UndoableMaxPool2d(nn.MaxPool2d):
    forward = Reference.forward
    undo = Reference.undo
""",
    ),
    "relu: subclassing the reference": (
        "ch1-relu-undo",
        """
import course_utils.layers

class UndoableReLU(course_utils.layers.UndoableReLU):
    pass
""",
    ),
    "relu: aliasing the reference's undo": (
        "ch1-relu-undo",
        """
from course_utils.layers import Context, UndoableReLU as Reference

class UndoableReLU(nn.ReLU):
    def forward(self, x):
        return super().forward(x), Context(self, x.shape, x > 0)

    undo = Reference.undo
""",
    ),
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel(CHAPTER) as kernel:
        kernel.run_before("ch1-conv-undo")
        yield kernel


def test_every_solution_cell_has_an_alternative_and_tests():
    notebook = nbformat.read(CHAPTERS / f"{CHAPTER}.ipynb", as_version=4)
    solutions = [
        grade_id(c)
        for c in notebook.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert solutions == list(ALTERNATIVES) == list(TESTS)
    points = {grade_id(c): c.metadata.get("nbgrader", {}).get("points") for c in notebook.cells}
    assert [points[t] for t in TESTS.values()] == [4, 3, 3]


def test_solutions_pass_their_tests(chapter):
    for solution, tests in TESTS.items():
        chapter.run_cell(solution)
        chapter.run_cell(tests)  # raises CellFailed if a test fails
        assert HIDDEN.search(chapter.cell(tests)), f"{tests} has no hidden tests"


@pytest.mark.parametrize("solution", list(ALTERNATIVES))
def test_alternatives_pass(chapter, solution):
    chapter.answer(solution, ALTERNATIVES[solution])
    chapter.assert_passes(TESTS[solution], f"ALTERNATIVES[{solution!r}]")


@pytest.mark.parametrize("name", list(MORE_ALTERNATIVES))
def test_more_alternatives_pass(chapter, name):
    solution, body = MORE_ALTERNATIVES[name]
    chapter.answer(solution, body)
    chapter.assert_passes(TESTS[solution], name)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_fail(chapter, mistake):
    solution, body, visible = MISTAKES[mistake]
    chapter.answer(solution, body)
    chapter.assert_fails(TESTS[solution], mistake, visible)


@pytest.mark.parametrize("mistake", list(REUSED))
def test_reusing_the_reference_fails(chapter, mistake):
    solution, source = REUSED[mistake]
    chapter.run(source)
    chapter.assert_fails(TESTS[solution], mistake)
    # the visible tests alone already refuse it, with a message that names the library
    with pytest.raises(CellFailed, match="course_utils"):
        chapter.run(HIDDEN.sub("", chapter.cell(TESTS[solution])))
