"""Chapter 1's exercise, as tables for the harness in ``tests/exercises.py``: each task's test cell
passes the solution and correct answers written differently, and fails the mistakes students make
and every way of reusing the library's reference layers."""

import pytest
from exercises import Cell, Exercise, Mistake, Task, hidden

pytestmark = pytest.mark.slow

OUTPUT_PADDING = (
    "output_padding = [n - ((m - 1) * s - 2 * p + d * (k - 1) + 1) for n, m, k, s, p, d in "
    "zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding, self.dilation)]"
)
RELU_RULES = """
if rule == "deconvnet":
    return F.relu(y)
if rule == "backprop":
    return {backprop}
if rule == "guided":
    return F.relu(y) * positive
raise ValueError({error})
"""


def subclassed(name):
    """A solution cell that subclasses the library's ``name`` and changes nothing."""
    return Cell(
        f"import course_utils.layers\n\nclass {name}(course_utils.layers.{name}):\n    pass\n"
    )


def aliased(name, base, forward, names):
    """A solution cell of a ``base`` subclass whose ``names`` are the library's ``name``'s own."""
    aliases = "".join(f"\n    {n} = Reference.{n}" for n in names)
    return Cell(f"""
from course_utils.layers import Context, {name} as Reference

class {name}({base}):
    def forward(self, x):
        {forward}
{aliases}""")


CONV = Task(
    tests={"ch1-conv-undo-tests": 4},
    alternatives={
        "conv: transpose, then ask for the missing rows": """
# transpose without output_padding first, then ask for the rows and columns that are missing
rough = F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, 0, self.groups, self.dilation)
missing = [n - m for n, m in zip(input_size, rough.shape[-2:])]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, missing, self.groups, self.dilation)""",
        "conv: the backward pass itself": """
shape = (y.shape[0], self.in_channels, *input_size)
return torch.nn.grad.conv2d_input(shape, self.weight, y, self.stride, self.padding, self.dilation, self.groups)""",
    },
    mistakes={
        "conv: a fresh ConvTranspose2d": Mistake(f"""
{OUTPUT_PADDING}
fresh = nn.ConvTranspose2d(self.out_channels, self.in_channels, self.kernel_size, self.stride, self.padding, output_padding, self.groups, bias=False, dilation=self.dilation)
return fresh(y)""", match="own weights, without the bias"),
        "conv: ignoring stride, padding and dilation": Mistake("return F.conv_transpose2d(y, self.weight)", match="undo should give the input's shape"),
        "conv: no output_padding (loses a row)": Mistake("return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, 0, self.groups, self.dilation)", match="check output_padding"),
        "conv: output_padding stride - 1 whatever the size": hidden(
            "return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, [s - 1 for s in self.stride], self.groups, self.dilation)", match="compute output_padding from the input size"),
        "conv: ignoring dilation": hidden("""
output_padding = [n - ((m - 1) * s - 2 * p + (k - 1) + 1) for n, m, k, s, p in zip(input_size, y.shape[-2:], self.kernel_size, self.stride, self.padding)]
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, self.groups)""", match="undo fails for .*'dilation': 2"),
        "conv: ignoring groups": hidden(f"""
{OUTPUT_PADDING}
return F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, 1, self.dilation)""", match="wrong shape for .*'groups': 2"),
        "conv: adding the bias": Mistake(f"""
{OUTPUT_PADDING}
x = F.conv_transpose2d(y, self.weight, None, self.stride, self.padding, output_padding, self.groups, self.dilation)
return x + self.bias.mean()""", match="own weights, without the bias"),
        "conv: the flipped kernel of a true convolution": Mistake(f"""
{OUTPUT_PADDING}
return F.conv_transpose2d(y, self.weight.flip(-1, -2), None, self.stride, self.padding, output_padding, self.groups, self.dilation)""", match="own weights, without the bias"),
    },
    reuse={
        "conv: calling the course's reference": """
from course_utils.layers import UndoableConv2d as Reference
reference = Reference(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation, self.groups, bias=False)
reference.weight = self.weight
_, context = reference(torch.zeros(y.shape[0], self.in_channels, *input_size))
return reference.undo(y, context)""",
        "conv: subclassing the reference": subclassed("UndoableConv2d"),
        "conv: aliasing the reference's undo": aliased(
            "UndoableConv2d", "nn.Conv2d", "return super().forward(x), Context(self, x.shape)", ["_pads", "undo"]),
    },
)  # fmt: skip

POOL = Task(
    tests={"ch1-pool-undo-tests": 3},
    alternatives={
        "pool: one-hot switches": """
n, c = y.shape[:2]
height, width = input_size
one_hot = F.one_hot(switches.flatten(2), height * width).to(y.dtype)  # n, c, outputs, pixels
return (y.flatten(2).unsqueeze(-1) * one_hot).sum(dim=2).view(n, c, height, width)""",
        "pool: index_put_ with accumulate": """
n, c = y.shape[:2]
flat = y.new_zeros(n * c, input_size[0] * input_size[1])
rows = torch.arange(n * c).unsqueeze(1).expand(-1, y[0, 0].numel())
flat.index_put_((rows, switches.reshape(n * c, -1)), y.reshape(n * c, -1), accumulate=True)
return flat.view(n, c, *input_size)""",
    },
    mistakes={
        "pool: F.max_unpool2d keeps one value where windows overlap": Mistake("return F.max_unpool2d(y, switches, self.kernel_size, self.stride, self.padding, output_size=input_size)", match="maximum of all four windows"),
        "pool: scatter overwrites instead of adding": Mistake("""
n, c = y.shape[:2]
x = y.new_zeros(n, c, input_size[0] * input_size[1])
return x.scatter(2, switches.flatten(2), y.flatten(2)).view(n, c, *input_size)""", match="maximum of all four windows"),
        "pool: unpooling without the output size": Mistake("return F.max_unpool2d(y, switches, self.kernel_size, self.stride, self.padding)", match="the result must have the input's size"),
        "pool: upsampling instead of the switches": Mistake("return F.interpolate(y, size=tuple(input_size))", match="where its maximum was"),
    },
    reuse={
        "pool: calling the course's reference": """
from course_utils.layers import Context, UndoableMaxPool2d as Reference
reference = Reference(self.kernel_size, self.stride, self.padding, self.dilation)
return reference.undo(y, Context(reference, (*y.shape[:2], *input_size), switches))""",
        "pool: subclassing the reference": subclassed("UndoableMaxPool2d"),
        "pool: aliasing the reference's methods": aliased(
            "UndoableMaxPool2d", "nn.MaxPool2d", "return Reference.forward(self, x)", ["undo"]),
    },
)  # fmt: skip

RELU = Task(
    tests={"ch1-relu-undo-tests": 3},
    alternatives={
        "relu: a table of rules": """
rules = {"deconvnet": (True, False), "backprop": (False, True), "guided": (True, True)}
if rule not in rules:
    raise ValueError(f"unknown rule {rule!r}: use one of {', '.join(rules)}")
clip, mask = rules[rule]
if clip:
    y = y.clamp(min=0)
if mask:
    y = y * positive
return y""",
        "relu: match and masks": """
match rule:
    case "deconvnet":
        return y.clamp(min=0)
    case "backprop":
        return y * positive
    case "guided":
        return y.clamp(min=0) * positive
    case _:
        raise ValueError(f"rule {rule!r} is none of deconvnet, backprop, guided")""",
    },
    mistakes={
        "relu: the gradient rule whatever the rule": Mistake("return torch.where(positive, y, 0.0)", match="the deconvnet rule keeps the positive part"),
        "relu: the deconvnet rule whatever the rule": Mistake("return F.relu(y)", match="the backprop rule keeps the signal"),
        "relu: deconvnet and backprop swapped": Mistake("""
if rule == "backprop":
    return F.relu(y)
if rule == "deconvnet":
    return y * positive
if rule == "guided":
    return F.relu(y) * positive
raise ValueError("rule must be deconvnet, backprop or guided")""", match="the deconvnet rule keeps the positive part"),
        "relu: guided without the mask": Mistake("""
if rule in ("deconvnet", "guided"):
    return F.relu(y)
if rule == "backprop":
    return y * positive
raise ValueError("rule must be deconvnet, backprop or guided")""", match="the guided rule keeps"),
        "relu: backprop masked by the signal instead of the forward input": Mistake(RELU_RULES.format(
            backprop="y * (y > 0)", error='"rule must be deconvnet, backprop or guided"'
        ), match="the backprop rule keeps the signal"),
        "relu: an unknown rule falls back to deconvnet": Mistake("""
if rule == "backprop":
    return y * positive
if rule == "guided":
    return F.relu(y) * positive
return F.relu(y)""", match="should raise a ValueError"),
        "relu: an error that does not say which rules exist": Mistake(RELU_RULES.format(
            backprop="y * positive", error='"unknown rule"'
        ), match="should name the three rules"),
        "relu: editing the signal in place": Mistake("""
if rule not in ("deconvnet", "backprop", "guided"):
    raise ValueError("rule must be deconvnet, backprop or guided")
if rule != "backprop":
    y.clamp_(min=0)
if rule != "deconvnet":
    y.mul_(positive)
return y""", match="the backprop rule keeps the signal"),
    },
    reuse={
        "relu: calling the course's reference": """
from course_utils.layers import Context, UndoableReLU as Reference
reference = Reference()
return reference.undo(y, Context(reference, y.shape, positive), rule)""",
        "relu: subclassing the reference": subclassed("UndoableReLU"),
        "relu: aliasing the reference's undo": aliased(
            "UndoableReLU", "nn.ReLU", "return super().forward(x), Context(self, x.shape, x > 0)", ["undo"]),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "01_transposed_convolutions",
    {"ch1-conv-undo": CONV, "ch1-pool-undo": POOL, "ch1-relu-undo": RELU},
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests
