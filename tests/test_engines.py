"""Grading past one machine, tested without the engines: the GitHub Actions workflow and the Slurm script.

The workflow (.github/workflows/grade.yml) is linted with actionlint (which runs shellcheck on its
scripts), and its planning step, the one that turns the inputs into the matrix, is run here as
bash. The Slurm script (instructor/grade.sbatch) is run as Slurm would run it, with the
``SLURM_*`` variables set: two array tasks grade the test chapter's class in two shards, in a
course folder laid out like a clone, and the job after them joins the shards; a fake ``sbatch``
checks what it submits.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nbgrader.api import Gradebook
from submissions import FIXTURE, released, submit
from test_autograde import fixture_batch

from instructor.course import Chapter
from instructor.grading import select

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "grade.yml"
SCRIPT = Path("instructor") / "grade.sbatch"
#: Enough kinds of submission to tell the shards' points apart, few enough to grade quickly.
STUDENTS = ("full", "blank", "partial", "deleted-test", "syntax-error")


def tool(name: str) -> str:
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    assert found, f"no {name}: pip install -r requirements-test.txt"
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    env = dict(
        os.environ, PATH=f"{Path(tool('shellcheck')).parent}{os.pathsep}{os.environ['PATH']}"
    )
    command = [tool("actionlint"), "-no-color", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("path", sorted(WORKFLOW.parent.glob("*.yml")), ids=lambda p: p.name)
def test_every_workflow_passes_actionlint(path):
    """Including its warnings: an action whose runtime GitHub has removed (node20) fails here."""
    result = lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_mistake_in_the_workflow(tmp_path):
    """The lint is not vacuous: a merge job that waits for a job that does not exist fails it."""
    broken = tmp_path / "grade.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("needs: [plan, grade]", "needs: [plan, grading]")
    )
    result = lint(broken)
    assert result.returncode == 1 and 'needs job "grading" which does not exist' in result.stdout, (
        result.stdout
    )


def plan_step(shards: str, private="true", submissions="our-course/class-2026"):
    """The workflow's planning step, run as bash with the inputs it would get."""
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["plan"]["steps"]
    [step] = [s for s in steps if s.get("id") == "plan"]
    env = {"PATH": os.environ["PATH"], "SHARDS": shards, "SUBMISSIONS": submissions}
    output = Path(os.environ.get("TMPDIR", "/tmp")) / f"github-output-{os.getpid()}"
    output.write_text("")
    env.update(PRIVATE=private, GITHUB_OUTPUT=str(output))
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True
    )
    written = output.read_text()
    output.unlink()
    return result, written


def test_the_workflow_plans_one_job_per_shard():
    result, written = plan_step("3")
    assert result.returncode == 0, result.stdout
    assert written == "shards=[1,2,3]\n"


@pytest.mark.parametrize(
    ("shards", "private", "submissions", "message"),
    [
        ("0", "true", "org/class", "shards='0': say how many machines"),
        ("four", "true", "org/class", "shards='four'"),
        ("65", "true", "org/class", "from 1 to 64"),
        ("2", "false", "org/class", "This repository is public"),
        ("2", "true", "class", "submissions='class': say owner/name"),
    ],
)
def test_the_workflow_refuses_bad_inputs_before_any_machine_starts(
    shards, private, submissions, message
):
    result, written = plan_step(shards, private, submissions)
    assert result.returncode == 1 and written == ""
    assert result.stdout.startswith("::error::") and message in result.stdout, result.stdout


def test_the_slurm_script_passes_shellcheck():
    result = subprocess.run(
        [tool("shellcheck"), str(ROOT / SCRIPT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def run_script(course: Path, *args: str, path=None, **slurm) -> subprocess.CompletedProcess:
    """``instructor/grade.sbatch ARGS`` in ``course`` as Slurm runs it: with ``slurm`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(slurm, PYTHON=sys.executable, PYTHONPATH=str(ROOT))  # course_utils: this checkout's
    if path:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    command = ["bash", str(SCRIPT), *args]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder laid out like a clone, whose only chapter is the test chapter, released, with
    a class of submissions; and the points each student must get."""
    root = tmp_path_factory.mktemp("clone")
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(
        ROOT / "instructor", root / "instructor", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "chapters").mkdir()
    shutil.copy(FIXTURE.path, root / "chapters" / FIXTURE.path.name)
    (root / "_toc.yml").write_text("root: intro\nchapters:\n  - file: chapters/00_exercise\n")
    chapter = Chapter(root / "chapters" / FIXTURE.path.name)
    released([chapter], root)
    batch = fixture_batch(root)
    for student in STUDENTS:
        submit(root, chapter, student, batch[student][0])
    return root, {student: batch[student][1] for student in STUDENTS}


def shard_rows(course_root: Path, name: str) -> dict[str, dict]:
    with (course_root / "grades" / name).open(newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def points(row: dict, expected: dict) -> dict:
    return {cell: float(row[cell]) for cell in expected}


def gradebook_points(db: Path, student: str) -> dict:
    with Gradebook(f"sqlite:///{db}", "reversing-convolutions") as gradebook:
        notebook = gradebook.find_submission_notebook("00_exercise", "ch0", student)
        return {grade.name: grade.score for grade in notebook.grades}  # written answers too


@pytest.mark.slow
def test_a_slurm_array_grades_the_class_in_shards_and_the_merge_joins_them(course):
    root, expected = course
    first = run_script(root, "0", "2", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    assert first.returncode == 0, first.stdout + first.stderr
    rows = shard_rows(root, "ch0.shard-1-of-2.csv")
    assert list(rows) == select(sorted(expected), (1, 2), None) == ["blank", "full", "syntax-error"]
    for student, row in rows.items():
        assert points(row, expected[student]) == expected[student], row
        assert (
            float(row["score"]) == sum(expected[student].values()) and float(row["max_score"]) == 6
        )
        assert (root / "feedback" / student / "ch0" / "00_exercise.html").exists()
        shard_gradebook = root / "grades" / "ch0.shard-1-of-2.db"
        assert gradebook_points(shard_gradebook, student) == expected[student]

    # the merge, before the second shard came back: it stops and says which files are missing
    early = run_script(root, "0", "2", SLURM_JOB_ID="12")
    assert early.returncode != 0
    assert "did not come back: grades/ch0.shard-2-of-2.csv, grades/ch0.shard-2-of-2.db" in (
        early.stderr
    )
    assert not (root / "grades" / "ch0.csv").exists()

    second = run_script(root, "0", "2", SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_COUNT="2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert list(shard_rows(root, "ch0.shard-2-of-2.csv")) == ["deleted-test", "partial"]

    merge = run_script(root, "0", "2", SLURM_JOB_ID="12")
    rows = shard_rows(root, "ch0.csv")
    assert list(rows) == sorted(expected)
    for student, row in rows.items():
        assert points(row, expected[student]) == expected[student], row
        # the course's gradebook now holds every shard's submissions, as after one machine's run
        assert gradebook_points(root / "gradebook.db", student) == expected[student]
    has_report = subprocess.run(
        ["make", "-n", "report", "CHAPTER=0"], cwd=root, capture_output=True
    )
    if has_report.returncode == 0:  # the class report (make report) is in this checkout
        assert merge.returncode == 0, merge.stdout + merge.stderr
        assert (root / "grades" / "ch0.report.html").exists()
    else:  # it is not yet: the merge goes as far as asking for it
        assert "No rule to make target 'report'" in merge.stderr, merge.stderr


@pytest.mark.parametrize(
    ("args", "slurm", "message"),
    [
        (("0",), {}, "say which chapter and how many shards"),
        (("0", "four"), {}, "SHARDS='four': say how many shards"),
        (("0", "0"), {}, "SHARDS='0'"),
        (("0", "2"), {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3"}, "--array=1-2"),
        (("0", "2"), {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}, "array task 0"),
        (("0", "2"), {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}, "of 4 cannot"),
    ],
)
def test_a_bad_shard_setting_stops_the_task_with_a_clear_error(tmp_path, args, slurm, message):
    (tmp_path / "instructor").mkdir()
    shutil.copy(ROOT / SCRIPT, tmp_path / SCRIPT)
    result = run_script(tmp_path, *args, **slurm)
    assert result.returncode == 2 and result.stderr.startswith("grade.sbatch: "), result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "grades").exists()


def test_an_array_task_outside_a_course_folder_says_where_to_submit_from(tmp_path):
    (tmp_path / "instructor").mkdir()
    shutil.copy(ROOT / SCRIPT, tmp_path / SCRIPT)
    result = run_script(tmp_path, "1", "2", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    assert result.returncode == 2 and "submit from the course folder" in result.stderr


def test_on_the_login_node_it_submits_the_array_and_the_merge_after_it(tmp_path):
    """A fake ``sbatch`` records what the script submits, as the real one would take it."""
    course = tmp_path / "course"
    (course / "instructor").mkdir(parents=True)
    shutil.copy(ROOT / SCRIPT, course / SCRIPT)
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    calls = tmp_path / "calls"
    fake = bin_folder / "sbatch"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" >> {calls}\necho "4242;cluster"\n')
    fake.chmod(0o755)
    result = run_script(course, "1", "8", path=bin_folder)
    assert result.returncode == 0, result.stderr
    array, merge = calls.read_text().splitlines()
    assert array == f"{course} --parsable --array=1-8 instructor/grade.sbatch 1 8"
    assert merge.startswith(f"{course} --parsable --dependency=afterany:4242 ")
    assert merge.endswith(" instructor/grade.sbatch 1 8")
    assert (course / "grades").is_dir()  # where Slurm writes the jobs' output
    assert "as job 4242, and the merge as job 4242" in result.stdout


def test_a_shard_graded_against_another_release_is_refused(tmp_path):
    """Joining a gradebook made at another commit or REF would mix two sets of tests: it stops."""
    from instructor.shards import merge_gradebook

    ours = released([FIXTURE], tmp_path / "ours", ref="v2026.1") / "gradebook.db"
    theirs = released([FIXTURE], tmp_path / "theirs", ref="v2026.2") / "gradebook.db"
    with pytest.raises(SystemExit, match="graded against another release of ch0"):
        merge_gradebook(theirs, ours, "ch0", ["ann"], "reversing-convolutions")
    merge_gradebook(ours, ours, "ch0", [], "reversing-convolutions")  # the same release joins
