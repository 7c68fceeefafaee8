"""Chapter 3's exercises: each test cell passes the solution and a correct answer written
differently, and fails the mistakes students make (in its visible part, or only in the hidden one).
"""

import re

import pytest
from kernel import HIDDEN, ChapterKernel, with_answers

pytestmark = pytest.mark.slow

TASKS = {  # solution cell: its test cell
    "ch3-autoencoder": "ch3-autoencoder-tests",
    "ch3-design": "ch3-design-tests",
    "ch3-retrieval": "ch3-retrieval-tests",
}
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

# One correct answer, written differently from the instructor's, for every solution cell (a list:
# one body per solution block). The lead autogrades them together as one submission.
ALTERNATIVES = {
    "ch3-autoencoder": [
        """
p = kernel_size // 2
s = 2 if strided else 1
sizes = [in_channels, *hid_channels]
down = []
for c_in, c_out in zip(sizes, sizes[1:]):
    down += [nn.Conv2d(c_in, c_out, kernel_size, stride=s, padding=p), nn.ReLU()]
    if not strided:
        down.append(nn.AvgPool2d(2))
down.append(nn.Conv2d(sizes[-1], code_channels, kernel_size, padding=p))
up = []
for layer in reversed(down):
    if isinstance(layer, nn.Conv2d):
        t = layer.stride[0]
        up.append(nn.ConvTranspose2d(layer.out_channels, layer.in_channels, kernel_size, t, p, output_padding=t - 1))
    elif isinstance(layer, nn.AvgPool2d):
        up.append(nn.Upsample(scale_factor=2))
    else:
        up.append(nn.ReLU())
self.encoder = nn.Sequential(*down)
self.decoder = nn.Sequential(*up)
""",
        """
code = self.encoder(x)
return self.decoder(code)
""",
    ],
    # four poolings, 32 → 2, and 12 maps of 2 × 2
    "ch3-design": "design = {'hid_channels': [8, 8, 16, 16], 'code_channels': 12, 'kernel_size': 5, 'strided': False}",
    "ch3-retrieval": """
q, g = queries.reshape(len(queries), -1), gallery.reshape(len(gallery), -1)
squared = (q**2).sum(1, keepdim=True) - 2 * q @ g.T + (g**2).sum(1)
return squared.argsort(dim=1)[:, :k]
""",
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("03_convolutional_autoencoders") as kernel:
        kernel.run_before("ch3-retrieval")
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

STAGE = "nn.ConvTranspose2d(width, channels, kernel_size, stride, padding, stride - 1),"
CODE_CONV = "encoder.append(nn.Conv2d(channels, code_channels, kernel_size, padding=padding))"
# name: (text of the solution, what a student wrote instead, caught by the visible tests)
MISTAKES = {
    "a sigmoid at the end of the decoder": (
        "self.decoder = nn.Sequential(*decoder)",
        "self.decoder = nn.Sequential(*decoder, nn.Sigmoid())",
        True,
    ),
    "a ReLU after the code": (
        CODE_CONV,
        "encoder += [nn.Conv2d(channels, code_channels, kernel_size, padding=padding), nn.ReLU()]",
        True,
    ),
    "ordinary convolutions in the decoder": ("nn.ConvTranspose2d(", "nn.Conv2d(", True),
    "no padding": ("padding, stride = kernel_size // 2,", "padding, stride = 0,", True),
    "max pooling": ("[nn.AvgPool2d(2)]", "[nn.MaxPool2d(2)]", True),
    "upsampling after the transposed convolution": (
        "*unpool,\n                nn.ReLU(),\n                " + STAGE,
        "nn.ReLU(),\n                " + STAGE + "\n                *unpool,",
        True,
    ),
    "the decoder built in the encoder's order": ("            ] + decoder\n", "            ]\n", True),
    "forward skips the decoder's last layer": (
        "return self.decoder(self.encoder(x))",
        "return self.decoder[:-1](self.encoder(x))",
        True,
    ),
    "strided: no output_padding": (STAGE, STAGE.replace(", stride - 1)", ")"), True),
    "strided: pooling as well as strides": (
        "([], []) if strided else ",
        "([nn.AvgPool2d(2)], [nn.Upsample(scale_factor=2)]) if strided else ",
        True,
    ),
    "strided: stride 2 in the code's convolution too": (
        CODE_CONV,
        CODE_CONV.replace("padding=padding))", "stride, padding))"),
        True,
    ),
    "strided=True ignored": ("padding, stride = kernel_size // 2, 2 if strided else 1", "padding, stride = kernel_size // 2, 1\n        strided = False", True),
    "only the first two stages": ("for width in hid_channels:", "for width in hid_channels[:2]:", False),
    "a kernel size of 3 in the decoder whatever the encoder's": (
        STAGE,
        "nn.ConvTranspose2d(width, channels, 3, stride, 1, stride - 1),",
        False,
    ),
}  # fmt: skip


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
    def __init__(self, in_channels=1, hid_channels=(16, 32), code_channels=4, kernel_size=3, strided=False):
        super().__init__(in_channels, hid_channels, code_channels, kernel_size, 1 + strided, 2 - strided)
"""
BORROWED = {
    "subclassing the library's model": LIBRARY_SUBCLASS,
    "the library model's halves": """
shape = dict(stride=2, pooling=1) if strided else {}
reference = models.AutoEncoder(in_channels, hid_channels, code_channels, kernel_size, **shape)
self.encoder, self.decoder = reference.encoder, reference.decoder
""",
    "the library's builders": """
args = (in_channels, hid_channels, code_channels, kernel_size, 1 + strided, 2 - strided)
self.encoder, self.decoder = models.conv_encoder(*args), models.conv_decoder(*args)
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


# ------------------------------------------------------------------------- the design

DESIGN = "design = dict(hid_channels={}, code_channels={}, kernel_size={}, strided={})"
# Correct designs written differently: every design that meets the requirements passes.
DESIGN_ALTERNATIVES = {
    "three poolings, 3 maps of 4 × 4": DESIGN.format("(8, 8, 8)", 3, 3, False),
    "four strides, 12 maps of 2 × 2": DESIGN.format("[4, 8, 16, 32]", 12, 5, True),
    "five poolings, 48 maps of 1 × 1": DESIGN.format("(8, 8, 16, 16, 32)", 48, 1, False),
}
DESIGN_MISTAKES = {  # name: (body, caught by the visible tests)
    "two stages and 12 maps (8 × 8 sides, 768 numbers)": (DESIGN.format("(16, 32)", 12, 3, True), True),
    "48 code channels on two stages (48 maps, not 48 numbers)": (DESIGN.format("(16, 32)", 48, 3, False), True),
    "3 maps, one halving too few (8 × 8 sides)": (DESIGN.format("(16, 32)", 3, 3, True), True),
    "an even kernel": (DESIGN.format("(16, 32, 32)", 3, 4, True), True),
    "a side halved once too often (2 × 2 sides, 12 numbers)": (DESIGN.format("(8, 8, 8, 8)", 3, 3, True), True),
    "no design": ("pass", True),
}  # fmt: skip


@pytest.mark.parametrize("name", DESIGN_ALTERNATIVES)
def test_design_tests_pass_every_design_that_meets_the_requirements(solved, name):
    solved.answer("ch3-design", DESIGN_ALTERNATIVES[name])
    solved.assert_passes("ch3-design-tests", name)


@pytest.mark.parametrize("name", DESIGN_MISTAKES)
def test_design_tests_catch_the_mistake(solved, name):
    body, visible = DESIGN_MISTAKES[name]
    solved.answer("ch3-design", body)
    solved.assert_fails("ch3-design-tests", name, visible)


# ------------------------------------------------------------------------- retrieval

RETRIEVAL_ALTERNATIVES = {
    "squared distances, argsort": ALTERNATIVES["ch3-retrieval"],
    "a loop over the queries": """
flat = gallery.flatten(1)
rows = [((flat - q.flatten()) ** 2).sum(1).topk(k, largest=False).indices for q in queries]
return torch.stack(rows)
""",
    "sort, then slice": """
return torch.cdist(queries.flatten(1), gallery.flatten(1)).sort(dim=1).indices[:, :k]
""",
}
CDIST = "torch.cdist(queries.flatten(1), gallery.flatten(1))"
RETRIEVAL_MISTAKES = {  # name: (body, caught by the visible tests)
    "the farthest, not the nearest": (f"return {CDIST}.topk(k, dim=1).indices", True),
    "distances, not indices": (f"return {CDIST}.topk(k, dim=1, largest=False).values", True),
    "only the first channel": (
        "return torch.cdist(queries[:, 0].flatten(1), gallery[:, 0].flatten(1))"
        ".topk(k, dim=1, largest=False).indices",
        True,
    ),
    "skips the nearest, as if each query were in the gallery": (
        f"return {CDIST}.topk(k + 1, dim=1, largest=False).indices[:, 1:]",
        True,
    ),
    "cosine similarity, not Euclidean distance": (
        """
q = queries.flatten(1) / queries.flatten(1).norm(dim=1, keepdim=True)
g = gallery.flatten(1) / gallery.flatten(1).norm(dim=1, keepdim=True)
return (q @ g.T).topk(k, dim=1).indices
""",
        True,
    ),
    "sorted along the gallery's neighbours of each item, the wrong axis": (
        f"return {CDIST}.argsort(dim=0)[:k].T",
        True,
    ),
}


@pytest.mark.parametrize("name", RETRIEVAL_ALTERNATIVES)
def test_retrieval_tests_pass_an_answer_written_differently(solved, name):
    solved.answer("ch3-retrieval", RETRIEVAL_ALTERNATIVES[name])
    solved.assert_passes("ch3-retrieval-tests", name)


@pytest.mark.parametrize("name", RETRIEVAL_MISTAKES)
def test_retrieval_tests_catch_the_mistake(solved, name):
    body, visible = RETRIEVAL_MISTAKES[name]
    solved.answer("ch3-retrieval", body)
    solved.assert_fails("ch3-retrieval-tests", name, visible)
