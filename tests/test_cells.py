"""The nbgrader vocabulary (instructor/cells.py) on the test chapter and on hand-made cells."""

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from submissions import FIXTURE

from instructor import cells

SOURCE = nbformat.read(FIXTURE.path, 4)
#: A solution indented in a function, and hidden tests, each marker line with trailing spaces.
INDENTED = (
    "def f(x):\n"
    "    ### BEGIN SOLUTION   \n"
    "    y = x + 1\n"
    "    return y\n"
    "    ### END SOLUTION\n"
    "assert f(1) == 2\n"
    "### BEGIN HIDDEN TESTS\n"
    "assert f(2) == 3\n"
    "### END HIDDEN TESTS  "
)


def test_blocks_give_their_body_and_indentation():
    assert cells.solutions(INDENTED) == ["    y = x + 1\n    return y\n"]
    assert cells.hidden_tests(INDENTED) == ["assert f(2) == 3\n"]
    [match] = cells.SOLUTION.finditer(INDENTED)
    assert match["indent"] == "    "


def test_removing_a_block_takes_its_marker_lines_with_it():
    assert cells.without_solutions(INDENTED).splitlines()[:2] == ["def f(x):", "assert f(1) == 2"]
    assert cells.without_hidden_tests(INDENTED) == cells.without_hidden_tests(INDENTED, "")
    assert cells.without_hidden_tests(INDENTED, "# hidden\n").endswith(
        "assert f(1) == 2\n# hidden\n"
    )
    assert "HIDDEN" not in cells.without_hidden_tests(INDENTED)


def test_a_marker_beside_other_text_is_stray():
    source = "x = 1  ### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n  ### BEGIN HIDDEN TESTS  \n"
    assert cells.stray_markers(source) == ["x = 1  ### BEGIN SOLUTION"]
    assert cells.solutions(source) == []  # so the release check reports it (test_release.py)


def test_predicates_name_each_kind_of_cell():
    kinds = {
        cells.cell_name(c, i): (
            cells.is_test(c),
            cells.is_solution(c),
            cells.is_written_answer(c),
            cells.is_locked(c),
        )
        for i, c in enumerate(SOURCE.cells)
    }
    assert kinds["ch0-output-size"] == (False, True, False, False)
    assert kinds["ch0-output-size-tests"] == (True, False, False, True)
    assert kinds["ch0-think"] == (False, True, True, False)
    assert kinds["cell 1"] == (False, False, False, False)  # a teaching cell, no nbgrader id
    assert cells.grade_id(SOURCE.cells[1]) is None
    assert cells.grade_id({"metadata": {"nbgrader": {"grade_id": "raw"}}}) == "raw"  # a plain dict


def test_points_of_the_tests_and_of_the_written_answers():
    assert cells.autograded_points(SOURCE) == {"ch0-output-size-tests": 2, "ch0-flip-tests": 3}
    assert cells.written_points(SOURCE) == {"ch0-think": 1}


def test_hidden_test_lines_are_the_hidden_tests_alone():
    assert cells.hidden_test_lines(SOURCE) == {
        'assert torch.equal(flip(flip(k)), k), "flipping twice gives the kernel back"',
        "assert own_work(output_size, n, k, s, p) == expected, (n, k, s, p)",
        "expected = torch.nn.functional.conv1d(x, w, stride=s, padding=p).shape[-1]",
        "for n, k, s, p in SIZES:",
        "w = torch.zeros(1, 1, k)",
        "x = torch.zeros(1, 1, n)",
    }
    assert cells.hidden_test_lines(SOURCE) < cells.secret_lines(SOURCE)


@pytest.mark.parametrize(
    ("step", "student", "folder"),
    [
        (cells.RELEASE, None, "release/ch0"),
        (cells.SUBMITTED, "ada", "submitted/ada/ch0"),
        (cells.AUTOGRADED, "ada", "autograded/ada/ch0"),
        (cells.FEEDBACK, "ada", "feedback/ada/ch0"),
    ],
)
def test_where_nbgrader_keeps_a_chapter(step, student, folder):
    root = Path("/course")
    assert cells.chapter_folder(root, step, FIXTURE, student) == root / folder
    notebook = cells.chapter_notebook(root, step, FIXTURE, student)
    assert notebook == root / folder / "00_exercise.ipynb"


def test_checksum_is_the_files_sha256(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert cells.sha256(tmp_path / "a") == expected


def student_version():
    """The fixture as a student gets it: solutions stubbed, one cell the student added."""
    notebook = nbformat.from_dict(SOURCE)
    for cell in notebook.cells:
        if cells.is_solution(cell):
            cell.source = "raise NotImplementedError()"
    notebook.cells.append(new_code_cell("print('mine')"))
    return notebook


def test_answered_fills_in_the_instructors_solution_code_only():
    student = student_version()
    full = cells.answered(student, SOURCE)
    by_id = {cells.grade_id(c): c.source for c in full.cells}
    assert by_id["ch0-flip"] == SOURCE.cells[6].source
    assert by_id["ch0-output-size"] == SOURCE.cells[4].source
    assert (
        by_id["ch0-think"] == "raise NotImplementedError()"
    )  # a written answer stays the student's
    assert full.cells[-1].source == "print('mine')"
    assert student.cells[6].source == "raise NotImplementedError()"  # the original is untouched
    only = {
        cells.grade_id(c): c.source for c in cells.answered(student, SOURCE, {"ch0-flip"}).cells
    }
    assert only["ch0-flip"] == SOURCE.cells[6].source
    assert only["ch0-output-size"] == "raise NotImplementedError()"


def test_a_notebook_without_nbgrader_cells_has_no_points_or_secrets():
    notebook = new_notebook(cells=[new_markdown_cell("# x"), new_code_cell("x = 1")])
    assert cells.autograded_points(notebook) == {} == cells.written_points(notebook)
    assert cells.secret_lines(notebook) == set()
