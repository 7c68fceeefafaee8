"""Chapter 3's exercise: its test cell passes the solution and fails the mistakes students make."""

import re

import pytest
from kernel import HIDDEN, ChapterKernel

pytestmark = pytest.mark.slow

SOLUTION_ID, TESTS_ID = "ch3-autoencoder", "ch3-autoencoder-tests"
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("03_convolutional_autoencoders") as kernel:
        kernel.run_before(SOLUTION_ID)
        yield kernel


def solution(kernel):
    """The instructor's class, without the solution markers."""
    return MARKERS.sub("", kernel.cell(SOLUTION_ID))


def test_solution_passes_its_tests(chapter):
    chapter.run_cell(SOLUTION_ID)
    assert "All tests passed." in chapter.run_cell(TESTS_ID)


def test_test_cell_has_hidden_tests(chapter):
    assert HIDDEN.search(chapter.cell(TESTS_ID))


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
def test_tests_catch_the_mistake(chapter, name):
    old, new, visible = MISTAKES[name]
    source = solution(chapter)
    assert old in source, f"the solution changed: {old!r} is no longer in it"
    if name == "the decoder built in the encoder's order":
        source = source.replace("decoder = [\n", "decoder = decoder + [\n")
    chapter.run(source.replace(old, new))
    assert chapter.fails(TESTS_ID), f"the tests pass {name}"
    assert chapter.visible_fails(TESTS_ID) == visible, f"the visible tests and {name}"


def test_tests_refuse_the_library_model(chapter):
    chapter.run(
        "class AutoEncoder(models.AutoEncoder):\n"
        "    def __init__(self, in_channels=1, hid_channels=(16, 32), code_channels=4, kernel_size=3):\n"
        "        super().__init__(in_channels, hid_channels, code_channels, kernel_size)\n"
    )
    assert chapter.visible_fails(TESTS_ID)
