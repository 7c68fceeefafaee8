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
