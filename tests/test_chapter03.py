"""Chapter 3's exercises: each test cell passes the solution and a correct answer written
differently, and fails the mistakes students make (in its visible part, or only in the hidden one).
"""

import re

import pytest
from kernel import HIDDEN, ChapterKernel, with_answers

pytestmark = pytest.mark.slow

TASKS = {  # solution cell: its test cell
    "ch3-autoencoder": "ch3-autoencoder-tests",
    "ch3-code-shape": "ch3-code-shape-tests",
    "ch3-strided": "ch3-strided-tests",
}
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

# One correct answer, written differently from the instructor's, for every solution cell (a list:
# one body per solution block). The lead autogrades them together as one submission.
ALTERNATIVES = {
    "ch3-autoencoder": [
        """
p = kernel_size // 2
sizes = [in_channels, *hid_channels]
down, up = [], [nn.ConvTranspose2d(code_channels, sizes[-1], kernel_size, padding=p)]
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, padding=p), nn.ReLU(), nn.AvgPool2d(2)]
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
for c_out, c_in in reversed(list(zip(sizes, sizes[1:]))):
    up += [nn.Upsample(scale_factor=2), nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, kernel_size, padding=p)]
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)
""",
        """
code = self.encoder(x)
return self.decoder(code)
""",
    ],
    "ch3-code-shape": """
import math

side = image_size
for _ in range(len(hid_channels)):
    side = math.ceil(side / stride) // 2  # odd kernel, padding k // 2: (n - 1) // s + 1
side = math.ceil(side / stride)
return code_channels, side, side
""",
    "ch3-strided": [
        """
p = kernel_size // 2
sizes = [in_channels, *hid_channels]
down = []
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=p), nn.ReLU()]
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
up = []
for layer in reversed(down):
    if isinstance(layer, nn.Conv2d):
        s = layer.stride[0]
        up.append(nn.ConvTranspose2d(layer.out_channels, layer.in_channels, kernel_size, s, p, output_padding=s - 1))
    else:
        up.append(nn.ReLU())
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)
""",
        "return self.decoder(self.encoder(x))",
    ],
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("03_convolutional_autoencoders") as kernel:
        kernel.run_before("ch3-autoencoder")
        yield kernel


def solution(kernel, grade):
    """The instructor's solution cell ``grade``, without the solution markers."""
    return MARKERS.sub("", kernel.cell(grade))


def define(kernel, grade, bodies):
    """Run solution cell ``grade`` with its blocks replaced by ``bodies`` (a string or a list)."""
    kernel.run(with_answers(kernel.cell(grade), bodies))


@pytest.fixture
def solved(chapter):
    """The chapter with every instructor solution defined again after the test."""
    yield chapter
    for grade in TASKS:
        chapter.run_cell(grade)


def test_solutions_pass_their_tests(chapter):
    for grade, tests in TASKS.items():
        chapter.run_cell(grade)
        assert "All tests passed." in chapter.run_cell(tests), tests


def test_test_cells_have_hidden_tests(chapter):
    for tests in TASKS.values():
        assert HIDDEN.search(chapter.cell(tests)), tests


def test_alternatives_pass_with_hidden_tests(solved):
    for grade, tests in TASKS.items():
        define(solved, grade, ALTERNATIVES[grade])
        solved.assert_passes(tests, f"ALTERNATIVES[{grade!r}]")


# ------------------------------------------------------------------------- the auto-encoder

PADDED = "nn.ConvTranspose2d(width, channels, kernel_size, padding=padding),"
# name: (text of the solution, what a student wrote instead, caught by the visible tests)
MISTAKES = {
    "a sigmoid at the end of the decoder": (
        "self.decoder = nn.Sequential(*decoder)",
        "self.decoder = nn.Sequential(*decoder, nn.Sigmoid())",
        True,
    ),
    "a ReLU after the code": (
        "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, padding=padding))",
        "encoder += [nn.Conv2d(channels, code_channels, kernel_size, padding=padding), nn.ReLU()]",
        True,
    ),
    "ordinary convolutions in the decoder": ("nn.ConvTranspose2d(", "nn.Conv2d(", True),
    "no padding": ("padding = kernel_size // 2", "padding = 0", True),
    "max pooling": ("nn.AvgPool2d(2)", "nn.MaxPool2d(2)", True),
    "upsampling after the transposed convolution": (
        "nn.Upsample(scale_factor=2),\n                nn.ReLU(),\n                " + PADDED,
        "nn.ReLU(),\n                " + PADDED + "\n                nn.Upsample(scale_factor=2),",
        True,
    ),
    "the decoder built in the encoder's order": (
        "            ] + decoder\n",
        "            ]\n",
        True,
    ),
    "forward skips the decoder's last layer": (
        "return self.decoder(self.encoder(x))",
        "return self.decoder[:-1](self.encoder(x))",
        True,
    ),
    "only the first two stages": (
        "for width in hid_channels:",
        "for width in hid_channels[:2]:",
        False,
    ),
    "a kernel size of 3 in the decoder whatever the encoder's": (
        PADDED,
        "nn.ConvTranspose2d(width, channels, 3, padding=1),",
        False,
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_autoencoder_tests_catch_the_mistake(solved, name):
    old, new, visible = MISTAKES[name]
    source = solution(solved, "ch3-autoencoder")
    assert old in source, f"the solution changed: {old!r} is no longer in it"
    if name == "the decoder built in the encoder's order":
        source = source.replace("decoder = [\n", "decoder = decoder + [\n")
    solved.run(source.replace(old, new))
    solved.assert_fails("ch3-autoencoder-tests", name, visible)
    if not visible:
        assert not solved.visible_fails("ch3-autoencoder-tests"), f"visible tests catch {name}"


LIBRARY_SUBCLASS = """
class AutoEncoder(models.AutoEncoder):
    def __init__(self, in_channels=1, hid_channels=(16, 32), code_channels=4, kernel_size=3):
        super().__init__(in_channels, hid_channels, code_channels, kernel_size)
"""
BORROWED = {
    "subclassing the library's model": LIBRARY_SUBCLASS,
    "the library model's halves": """
reference = models.AutoEncoder(in_channels, hid_channels, code_channels, kernel_size)
self.encoder, self.decoder = reference.encoder, reference.decoder
""",
    "the library's builders": """
self.encoder = models.conv_encoder(in_channels, hid_channels, code_channels, kernel_size)
self.decoder = models.conv_decoder(in_channels, hid_channels, code_channels, kernel_size)
""",
}


@pytest.mark.parametrize("name", BORROWED)
def test_autoencoder_tests_refuse_the_library(solved, name):
    body = BORROWED[name]
    if body is LIBRARY_SUBCLASS:
        solved.run(body)
    else:
        solved.answer("ch3-autoencoder", body)
    solved.assert_fails("ch3-autoencoder-tests", name)


def test_autoencoder_tests_refuse_an_aliased_forward(solved):
    source = solution(solved, "ch3-autoencoder")
    forward = source[source.index("    def forward") :]
    aliased = "    forward = models.AutoEncoder.forward\n    encode = models.AutoEncoder.encode\n"
    aliased += "    decode = models.AutoEncoder.decode\n"
    solved.run(source.replace(forward, aliased))
    solved.assert_fails("ch3-autoencoder-tests", "aliasing the library's forward")


# ------------------------------------------------------------------------- the code's size

CODE_SHAPE_MISTAKES = {  # name: (body, caught by the visible tests)
    "ignoring the stride": (
        """
side = image_size
for _ in hid_channels:
    side //= 2
return (code_channels, side, side)
""",
        True,
    ),
    "no stride in the last convolution": (
        """
side = image_size
for _ in hid_channels:
    side = ((side + 2 * (kernel_size // 2) - kernel_size) // stride + 1) // 2
return (code_channels, side, side)
""",
        True,
    ),
    "pooling rounds up": (
        """
conv = lambda n: (n + 2 * (kernel_size // 2) - kernel_size) // stride + 1
side = image_size
for _ in hid_channels:
    side = -(-conv(side) // 2)
return (code_channels, conv(side), conv(side))
""",
        True,
    ),
    "float division": (
        """
conv = lambda n: (n + 2 * (kernel_size // 2) - kernel_size) // stride + 1
side = image_size
for _ in hid_channels:
    side = conv(side) / 2
return (code_channels, conv(side), conv(side))
""",
        True,
    ),
    "at most two stages": (
        """
conv = lambda n: (n + 2 * (kernel_size // 2) - kernel_size) // stride + 1
side = image_size
for _ in hid_channels[:2]:
    side = conv(side) // 2
return (code_channels, conv(side), conv(side))
""",
        False,
    ),
    "calling the library's code_side": (
        """
side = models.code_side(image_size, len(hid_channels), kernel_size, stride)
return (code_channels, side, side)
""",
        True,
    ),
}


@pytest.mark.parametrize("name", CODE_SHAPE_MISTAKES)
def test_code_shape_tests_catch_the_mistake(solved, name):
    body, visible = CODE_SHAPE_MISTAKES[name]
    solved.answer("ch3-code-shape", body)
    solved.assert_fails("ch3-code-shape-tests", name, visible)
    if not visible:
        assert not solved.visible_fails("ch3-code-shape-tests"), f"visible tests catch {name}"


# ------------------------------------------------------------------------- strides

STRIDED_MISTAKES = {  # name: (text of the solution, what a student wrote instead, visible)
    "no output_padding": (", output_padding=1)", ")", True),
    "pooling as well as strides": (
        "nn.Conv2d(channels, width, kernel_size, 2, padding), nn.ReLU()]",
        "nn.Conv2d(channels, width, kernel_size, 2, padding), nn.ReLU(), nn.AvgPool2d(2)]",
        True,
    ),
    "stride 2 in the code's convolution too": (
        "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, 1, padding))",
        "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, 2, padding))",
        True,
    ),
    "output_padding in the stride-1 transpose too": (
        "nn.ConvTranspose2d(code_channels, channels, kernel_size, 1, padding)",
        "nn.ConvTranspose2d(code_channels, channels, kernel_size, 1, padding, output_padding=1)",
        True,
    ),
    "stride 1 in the decoder (sizes fixed by upsampling)": (
        "nn.ConvTranspose2d(width, channels, kernel_size, 2, padding, output_padding=1),",
        "nn.ConvTranspose2d(width, channels, kernel_size, 1, padding), nn.Upsample(scale_factor=2),",
        True,
    ),
    "a kernel size of 3 in the decoder whatever the encoder's": (
        "nn.ConvTranspose2d(width, channels, kernel_size, 2, padding, output_padding=1),",
        "nn.ConvTranspose2d(width, channels, 3, 2, 1, output_padding=1),",
        False,
    ),
}


@pytest.mark.parametrize("name", STRIDED_MISTAKES)
def test_strided_tests_catch_the_mistake(solved, name):
    old, new, visible = STRIDED_MISTAKES[name]
    source = solution(solved, "ch3-strided")
    assert old in source, f"the solution changed: {old!r} is no longer in it"
    solved.run(source.replace(old, new))
    solved.assert_fails("ch3-strided-tests", name, visible)
    if not visible:
        assert not solved.visible_fails("ch3-strided-tests"), f"visible tests catch {name}"


@pytest.mark.parametrize(
    "name, body",
    [
        (
            "the library model, strided",
            "reference = models.AutoEncoder(in_channels, hid_channels, code_channels, "
            "kernel_size, stride=2, pooling=1)\n"
            "self.encoder, self.decoder = reference.encoder, reference.decoder",
        ),
        (
            "the library's builders, strided",
            "args = (in_channels, hid_channels, code_channels, kernel_size, 2, 1)\n"
            "self.encoder, self.decoder = models.conv_encoder(*args), models.conv_decoder(*args)",
        ),
    ],
)
def test_strided_tests_refuse_the_library(solved, name, body):
    solved.answer("ch3-strided", body)
    solved.assert_fails("ch3-strided-tests", name)
