"""The student release: nbgrader's generate_assignment for every chapter, and the release check."""

import importlib.util
import re
import subprocess
import sys
import types

import nbformat
import pytest
from submissions import FIXTURE, grade_id, released, student_version

from instructor import course
from instructor.cells import secret_lines, written_points
from instructor.feedback import leaks
from instructor.release import (
    check,
    check_release,
    check_source,
    hand_edits,
    points_table,
    release,
    student_tree,
)

REF = "0123456789abcdef"
CHAPTERS = course.chapters()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Every chapter in ``_toc.yml``, released into a scratch course root."""
    return released(CHAPTERS, tmp_path_factory.mktemp("course"), ref=REF)


@pytest.fixture(scope="module")
def fixture_course(tmp_path_factory):
    return released([FIXTURE], tmp_path_factory.mktemp("fixture"), ref=REF)


def test_toc_gives_one_assignment_per_chapter():
    assert [c.assignment for c in CHAPTERS] == [f"ch{n}" for n in range(1, 7)]
    assert course.find_chapter("01").stem == course.find_chapter("ch1").stem == CHAPTERS[0].stem


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_chapter_has_an_exercise_and_a_clean_student_version(real, chapter):
    problems = check_source(chapter) + check_release(chapter, real / "release", REF)
    assert not problems, f"{chapter.stem}: release check failed:\n  " + "\n  ".join(problems)


def test_grade_ids_are_unique_across_the_course(real):
    duplicates = [p for found in check(CHAPTERS, real).values() for p in found if "also used" in p]
    assert not duplicates


@pytest.mark.parametrize("chapter", [FIXTURE, *CHAPTERS], ids=lambda c: c.stem)
def test_student_version_keeps_the_teaching_and_stubs_the_rest(real, fixture_course, chapter):
    root = fixture_course if chapter is FIXTURE else real
    source, student = nbformat.read(chapter.path, 4), student_version(root, chapter)
    assert student.cells[0].source.startswith("# Set-up")
    by_id = {grade_id(c): c for c in student.cells}
    kept = [c for c in student.cells[1:] if "nbgrader" not in c.metadata or not grade_id(c)]
    teaching = [c for c in source.cells if "nbgrader" not in c.metadata]
    # teaching text and helper code survive verbatim and in order
    assert [c.source for c in teaching if c.cell_type == "markdown"] == [
        c.source for c in kept if c.cell_type == "markdown"
    ]
    helpers = [c for c in student.cells[1:] if re.fullmatch(r"ch\d+-code-\d+", grade_id(c) or "")]
    assert [c.source for c in helpers] == [c.source for c in teaching if c.cell_type == "code"]
    assert all(c.metadata["nbgrader"]["locked"] for c in helpers)
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            stub = by_id[meta["grade_id"]].source
            assert "raise NotImplementedError()" in stub
            outside = cell.source.split("### BEGIN SOLUTION")[0].rstrip()
            assert stub.startswith(outside), "the signature and docstring stay for students"
        if meta.get("solution") and cell.cell_type == "markdown":
            assert by_id[meta["grade_id"]].source == "YOUR ANSWER HERE"
    assert not any(c.get("outputs") or c.get("execution_count") for c in student.cells)
    nbformat.validate(student)


def test_fixture_release_passes_the_check(fixture_course):
    assert check([FIXTURE], fixture_course) == {FIXTURE.stem: []}


def test_hidden_tests_are_dropped_and_visible_tests_kept(fixture_course):
    student = {grade_id(c): c.source for c in student_version(fixture_course, FIXTURE).cells}
    assert "output_size(28, 3) == 26" in student["ch0-output-size-tests"]
    assert "conv1d" not in student["ch0-output-size-tests"]
    assert "flip(flip(k))" not in student["ch0-flip-tests"]


@pytest.mark.parametrize(
    "leak",
    [
        "    return (n + 2 * padding - kernel) // stride + 1",  # a solution line
        'assert torch.equal(flip(flip(k)), k), "flipping twice gives the kernel back"',  # hidden test
        "The kernel visits every second position, so there are half as many outputs.",  # answer
        "### BEGIN SOLUTION",
    ],
)
def test_check_catches_anything_secret_that_survives(fixture_course, tmp_path, leak):
    student = student_version(fixture_course, FIXTURE)
    student.cells[-1].source += "\n" + leak
    (tmp_path / "ch0").mkdir()
    nbformat.write(student, tmp_path / "ch0" / FIXTURE.path.name)
    problems = check_release(FIXTURE, tmp_path, REF)
    assert problems and all("survived" in p for p in problems), problems


def test_secret_lines_leave_out_what_students_see_anyway():
    secrets = secret_lines(nbformat.read(FIXTURE.path, 4))
    assert "return torch.flip(kernel, dims=(-2, -1))" in secrets
    assert not any("def output_size" in line or "assert output_size(28" in line for line in secrets)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda meta: meta.pop("points"), "without points"),
        (lambda meta: meta.pop("grade_id"), "without a grade_id"),
        (lambda meta: meta.update(grade=False), "no graded test cell"),
    ],
)
def test_check_catches_graded_cells_without_id_or_points(tmp_path, change, expected):
    notebook = nbformat.read(FIXTURE.path, 4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            change(cell.metadata["nbgrader"])
    nbformat.write(notebook, tmp_path / FIXTURE.path.name)
    problems = check_source(course.Chapter(tmp_path / FIXTURE.path.name))
    assert any(expected in p for p in problems), problems


def test_check_catches_a_marker_beside_other_text(tmp_path):
    """nbgrader drops a marker's whole line, code beside it included: a marker stands alone."""
    notebook = nbformat.read(FIXTURE.path, 4)
    [flip] = [c for c in notebook.cells if grade_id(c) == "ch0-flip"]
    flip.source = flip.source.replace("    ### END SOLUTION", "    return kernel  ### END SOLUTION")
    nbformat.write(notebook, tmp_path / FIXTURE.path.name)
    problems = check_source(course.Chapter(tmp_path / FIXTURE.path.name))
    assert (
        "cell 6: a marker shares its line with other text: 'return kernel  ### END SOLUTION'"
        in problems
    )
    assert "cell 6: solution cell without ### BEGIN/END SOLUTION" in problems


def test_check_fails_a_chapter_without_exercise(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 9. Soon")])
    nbformat.write(notebook, tmp_path / "09_soon.ipynb")
    problems = check_source(course.Chapter(tmp_path / "09_soon.ipynb"))
    assert any("no graded test cell" in p for p in problems)


def test_rerunning_refuses_to_overwrite_a_hand_edited_release(tmp_path):
    root = released([FIXTURE], tmp_path, ref=REF)
    release([FIXTURE], root, ref=REF)  # untouched: re-running is fine
    path = root / "release" / "ch0" / FIXTURE.path.name
    path.write_text(path.read_text().replace("Write `output_size`", "Write `output_size` now"))
    assert hand_edits(root / "release") == [f"ch0/{FIXTURE.path.name} (edited)"]
    with pytest.raises(SystemExit, match="changed by hand"):
        release([FIXTURE], root, ref=REF)
    assert "now" in path.read_text()
    (root / "release" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="notes.txt"):
        release([FIXTURE], root, ref=REF)
    release([FIXTURE], root, ref=REF, force=True)
    assert "now" not in path.read_text() and hand_edits(root / "release") == []


def test_nbgrader_command_line_reads_the_repository_config(tmp_path):
    """Plain ``nbgrader generate_assignment``, run from the repository, makes the same student version."""
    root = released([FIXTURE], tmp_path / "api", ref=REF)
    cli = tmp_path / "cli"
    staged = cli / course.SOURCE_DIRECTORY / "ch0"
    staged.mkdir(parents=True)
    staged.joinpath(FIXTURE.path.name).write_bytes(FIXTURE.path.read_bytes())
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", "ch0"]
    command += [f"--CourseDirectory.root={cli}", f"--CourseSetupCell.ref={REF}"]
    subprocess.run(command, cwd=course.ROOT, check=True, capture_output=True, timeout=300)
    ours, theirs = student_version(root, FIXTURE), student_version(cli, FIXTURE)
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]


def run_setup_cell(source, *, installed, colab):
    """Run the set-up cell with ``course_utils`` (not) importable, in (not) Colab; return pip calls."""
    calls = []

    def run(args, **kwargs):
        calls.append(args)
        return types.SimpleNamespace(returncode=0, stderr="")

    fake_subprocess = types.SimpleNamespace(run=run)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return (object() if installed else None) if name == "course_utils" else real_find_spec(name)

    saved = dict(sys.modules)
    try:
        sys.modules["subprocess"] = fake_subprocess
        if colab:
            sys.modules["google.colab"] = types.ModuleType("google.colab")
        importlib.util.find_spec = find_spec
        exec(compile(source, "setup-cell", "exec"), {})
    finally:
        importlib.util.find_spec = real_find_spec
        sys.modules.clear()
        sys.modules.update(saved)
    return calls


def test_setup_cell_does_nothing_where_the_library_is_installed(fixture_course):
    source = student_version(fixture_course, FIXTURE).cells[0].source
    assert run_setup_cell(source, installed=True, colab=True) == []
    exec(compile(source, "setup-cell", "exec"), {})  # really installed here: no error


def test_setup_cell_installs_the_pinned_commit_in_colab(fixture_course):
    source = student_version(fixture_course, FIXTURE).cells[0].source
    [pip] = run_setup_cell(source, installed=False, colab=True)
    url = course.repository_url()
    assert pip[1:4] == ["-m", "pip", "install"]
    assert pip[-1] == f"course-utils @ git+{url}@{REF}"


def test_setup_cell_explains_what_to_do_elsewhere(fixture_course):
    source = student_version(fixture_course, FIXTURE).cells[0].source
    with pytest.raises(ModuleNotFoundError, match=f"pip install 'course-utils @ git.*@{REF}'"):
        run_setup_cell(source, installed=False, colab=False)


def test_student_tree_puts_notebooks_at_the_site_paths(fixture_course, tmp_path):
    out = student_tree(fixture_course, tmp_path / "student")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "README.md",
        "binder/requirements.txt",
        f"chapters/{FIXTURE.path.name}",
    ]
    requirements = (out / "binder" / "requirements.txt").read_text().splitlines()
    assert requirements[-1] == f"course-utils @ git+{course.repository_url()}@{REF}"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements


def test_release_reports_tasks_and_points_per_chapter():
    table = points_table([FIXTURE, FIXTURE])
    assert "ch0" in table and "00_exercise" in table
    rows = [line.split()[2:] for line in table.splitlines() if line.split()[:1] == ["ch0"]]
    # two test cells worth 2 + 3 points; one written answer worth 1 point
    assert rows == [["2", "5", "1", "1"], ["2", "5", "1", "1"]]
    assert table.splitlines()[-1].split() == ["total", "4", "10", "2", "2"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda meta: meta.update(grade=False), "grade: False"),
        (lambda meta: meta.pop("points"), "points: None"),
        (lambda meta: meta.update(points=5), "points: 5"),
    ],
)
def test_a_written_answer_must_be_worth_1_to_3_points(tmp_path, change, expected):
    notebook = nbformat.read(FIXTURE.path, 4)
    [answer] = [c for c in notebook.cells if grade_id(c) == "ch0-think"]
    change(answer.metadata["nbgrader"])
    nbformat.write(notebook, tmp_path / FIXTURE.path.name)
    problems = check_source(course.Chapter(tmp_path / FIXTURE.path.name))
    assert any("ch0-think" in p and "1 to 3 points" in p and expected in p for p in problems), (
        problems
    )


def test_the_release_refuses_a_written_answer_without_points(tmp_path):
    """The old convention (a model answer with grade: false) stops the release with the fix."""
    notebook = nbformat.read(FIXTURE.path, 4)
    [answer] = [c for c in notebook.cells if grade_id(c) == "ch0-think"]
    answer.metadata["nbgrader"].update(grade=False)
    answer.metadata["nbgrader"].pop("points")
    (tmp_path / "chapters").mkdir()
    nbformat.write(notebook, tmp_path / "chapters" / FIXTURE.path.name)
    chapter = course.Chapter(tmp_path / "chapters" / FIXTURE.path.name)
    with pytest.raises(SystemExit, match="written answer 'ch0-think'.*grade: true and points"):
        release([chapter], tmp_path / "course", ref=REF)


def test_nothing_a_student_receives_holds_a_secret(real, fixture_course, tmp_path):
    assert leaks(real, CHAPTERS) == []
    assert leaks(fixture_course, [FIXTURE]) == []
    # the check can fail: a hidden test pasted into a released notebook, or into a feedback page
    leaked = tmp_path / "leaked"
    (leaked / "release" / "ch0").mkdir(parents=True)
    notebook = student_version(fixture_course, FIXTURE)
    notebook.cells[
        -1
    ].source += '\nassert torch.equal(flip(flip(k)), k), "flipping twice gives the kernel back"'
    nbformat.write(notebook, leaked / "release" / "ch0" / "00_exercise.ipynb")
    (leaked / "feedback" / "ann" / "ch0").mkdir(parents=True)
    page = "<pre><span>for</span> n, k, s, p <span>in</span> SIZES:</pre>"
    (leaked / "feedback" / "ann" / "ch0" / "00_exercise.html").write_text(page)
    found = leaks(leaked, [FIXTURE])
    assert any("release/ch0/00_exercise.ipynb" in f and "flip(flip(k))" in f for f in found)
    assert any("feedback/ann/ch0/00_exercise.html" in f and "SIZES" in f for f in found)


def test_every_chapter_grades_three_tasks_for_about_ten_points_and_two_written_answers():
    """Issue 10's bar: at least 3 graded code tasks and about 10 points a chapter, 60 in all;
    issue 20's: at least 2 written answers a chapter, graded by hand, 1 to 3 points each."""
    table = points_table(CHAPTERS)
    rows = {line.split()[0]: line.split()[2:] for line in table.splitlines()[2:-1]}
    assert sorted(rows) == [f"ch{n}" for n in range(1, 7)], table
    for chapter in CHAPTERS:
        tasks, points, written, _ = rows[chapter.assignment]
        assert int(tasks) >= 3, (
            f"{chapter.assignment} has {tasks} graded code tasks, not 3 or more:\n{table}"
        )
        assert 8 <= float(points) <= 12, f"{chapter.assignment} is worth {points} points, not ~10"
        answers = written_points(nbformat.read(chapter.path, 4))
        assert int(written) == len(answers) >= 2, f"{chapter.assignment}: {answers}\n{table}"
        assert all(1 <= p <= 3 for p in answers.values()), f"{chapter.assignment}: {answers}"
    assert float(table.splitlines()[-1].split()[2]) >= 60, table
