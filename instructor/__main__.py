"""Command line: ``python -m instructor {release,check,autograde,merge,merge-shards,report,student-tree}``."""

import argparse
import sys
from pathlib import Path

from instructor import course, grading, release, results, shards
from instructor import report as class_report
from instructor.sandbox import SandboxUnavailable


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor", description=__doc__)
    parser.add_argument("--course", type=Path, default=course.ROOT, help="nbgrader course root")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("release", help="student versions of every chapter, then check")
    make.add_argument("--ref", help="tag or commit that Colab installs course_utils at (HEAD)")
    make.add_argument("--force", action="store_true", help="overwrite a hand-edited release")
    commands.add_parser("check", help="fail if a solution survives or an exercise is incomplete")
    grade = commands.add_parser("autograde", help="grade every submission of one chapter")
    grade.add_argument("chapter", help="1, 01, ch1 or 01_transposed_convolutions")
    grade.add_argument("--timeout", type=int, help="seconds per cell (nbgrader_config.py: 60)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (1)")
    grade.add_argument("--shard", help="i/n: grade every n-th student from the i-th (sorted)")
    grade.add_argument("--students", help="comma-separated students to grade (a regrade)")
    grade.add_argument("--db-url", help="nbgrader gradebook URL (default: course's gradebook.db)")
    grade.add_argument(
        "--no-sandbox", action="store_true", help="run kernels unsandboxed (trusted notebooks only)"
    )
    merge = commands.add_parser("merge", help="join grade CSVs (shards, regrades) into one")
    merge.add_argument(
        "csv", nargs="+", type=Path, help="grade files; a later row for a student wins"
    )
    merge.add_argument("-o", "--out", type=Path, required=True, help="the merged CSV")
    page = commands.add_parser("report", help="the class report of a graded chapter, as HTML")
    page.add_argument("chapter", help="1, 01, ch1 or 01_transposed_convolutions")
    page.add_argument("--db-url", help="nbgrader gradebook URL (default: course's gradebook.db)")
    joined = commands.add_parser(
        "merge-shards", help="join every shard of a chapter: grades/chN.csv and gradebook.db"
    )
    joined.add_argument("chapter", help="1, 01, ch1 or 01_transposed_convolutions")
    joined.add_argument("shards", type=int, help="how many shards the class was graded in")
    tree = commands.add_parser("student-tree", help="write the student branch's files to a folder")
    tree.add_argument("out", type=Path)
    args = parser.parse_args(argv)

    if args.command == "release":
        out = release.release(course.chapters(), args.course, ref=args.ref, force=args.force)
        print(f"Student notebooks written to {out}")
        print(release.points_table(course.chapters()))
    if args.command in ("release", "check"):
        return report(release.check(course.chapters(), args.course))
    if args.command == "autograde":
        chapter = course.find_chapter(args.chapter)
        if args.jobs < 1:
            raise SystemExit(f"JOBS={args.jobs}: say how many submissions to grade at once, >= 1")
        students = [s.strip() for s in (args.students or "").split(",") if s.strip()]
        try:
            graded = grading.autograde(
                chapter,
                args.course,
                timeout=args.timeout,
                jobs=args.jobs,
                shard=grading.parse_shard(args.shard),
                students=students or None,
                sandbox=not args.no_sandbox,
                db_url=args.db_url,
            )
        except SandboxUnavailable as error:
            print(f"Grading stopped: {error}", file=sys.stderr)
            return 2
        return 0 if all(r.graded for r in graded) else 1
    if args.command == "merge":
        count = results.merge(args.csv, args.out)
        print(f"{count} students' grades written to {args.out}")
    if args.command == "report":
        chapter = course.find_chapter(args.chapter)
        print(f"Class report: {class_report.write(chapter, args.course, db_url=args.db_url)}")
    if args.command == "merge-shards":
        chapter = course.find_chapter(args.chapter)
        count = shards.merge_shards(chapter, args.shards, args.course)
        print(
            f"{args.shards} shard(s) of {chapter.assignment} joined: {count} students' grades in "
            f"grades/{chapter.assignment}.csv, their submissions in gradebook.db"
        )
    if args.command == "student-tree":
        print(f"Student branch files written to {release.student_tree(args.course, args.out)}")
    return 0


def report(problems: dict[str, list[str]]) -> int:
    """Print the release check's findings; 1 if there are any."""
    for name, found in problems.items():
        print(f"{name}: " + ("ok" if not found else "FAILED"))
        for problem in found:
            print(f"    {problem}")
    failed = [name for name, found in problems.items() if found]
    if failed:
        print(f"\nRelease check FAILED for {len(failed)} of {len(problems)}: {', '.join(failed)}")
        return 1
    print("\nRelease check passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
