"""The benchmark's verdicts against the grading goals (bench/run.py)."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import run  # noqa: E402  (bench/run.py)


def test_each_grading_measure_is_judged_against_its_goal():
    lines = run.against_goals(
        {
            "grading_median_s:01_a": 9.9,
            "grading_median_s:02_b": 10.0,
            "grading_median_s:06_c": 13.4,
            "grading_speedup_jobs2": 1.69,
            "build_s": 240.0,
        }
    )
    assert lines == [
        "goal grading_median_s:01_a: 9.9 s <= 10.0 s: met",
        "goal grading_median_s:02_b: 10.0 s <= 10.0 s: met",
        "goal grading_median_s:06_c: 13.4 s <= 10.0 s: MISSED",
        "goal JOBS=2 speed-up: 1.69x >= 1.7x: MISSED",
    ]


def test_a_run_without_grading_measures_has_no_verdict():
    assert run.against_goals({"load_first_s": 0.46}) == []


def test_the_graded_course_is_the_student_version_answered_by_the_instructor(tmp_path):
    """Every student of the benchmark's course hands in the release, its solution cells answered
    with the chapter's own (the submissions that tests/test_autograde.py calls ``full``)."""
    import nbformat
    from submissions import FIXTURE, solved

    root = run.solved_course(tmp_path, FIXTURE, submissions=2)
    handed_in = sorted(root.glob("submitted/*/ch0/00_exercise.ipynb"))
    assert [p.parts[-3] for p in handed_in] == ["student000", "student001"]
    expected = [c.source for c in solved(root, FIXTURE).cells]
    for path in handed_in:
        assert [c.source for c in nbformat.read(path, 4).cells] == expected
    assert "return torch.flip(kernel, dims=(-2, -1))" in "".join(expected)


def test_the_phases_of_grading_add_up_to_each_submissions_time():
    from instructor.grading import Result

    def graded(total, autograde, feedback, kernel_start, cell, guard, shutdown):
        return Result(
            "s",
            seconds=total,
            phases={
                "autograde": autograde,
                "feedback": feedback,
                "kernel_start": kernel_start,
                "guard_imports": kernel_start / 2,
                "cell:ch1-test": cell,
                "cell 3": 0.5,  # not a cell: ignored by the cells' sum
                "guard_checks": guard,
                "kernel_shutdown": shutdown,
            },
        )

    times = run.phases(
        [graded(10.0, 8.0, 1.5, 3.0, 4.0, 0.5, 0.25), graded(12.0, 9.5, 2.5, 4.0, 4.5, 0.25, 0.5)]
    )
    assert times["total"] == 11.0 and times["cells"] == 4.25 and times["cell:ch1-test"] == 4.25
    assert times["kernel_start"] == 3.5 and times["guard_imports"] == 1.75
    assert times["nbgrader_other"] == 0.25  # 8 - 7.75 and 9.5 - 9.25
    assert times["grader_other"] == 0.25  # median of 10 - 9.5 and 12 - 12
    lines = run.breakdown({"grading_phases_s:01_a": times, "grading_median_s:01_a": 11.0})
    assert lines[0].startswith("where the time went, 01_a: 11.0 s per submission")
    assert (
        "kernel_start 3.50 s (32%): sandbox_copy 0.00 s (0%), kernel_launch 0.00 s (0%), "
        in (lines[1])
    )
    assert "guard_imports 1.75 s (16%)" in lines[1]
    assert lines[2] == "  cells 4.25 s (39%); slowest: ch1-test 4.25 s (39%)"
