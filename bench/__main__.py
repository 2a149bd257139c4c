"""Command line of the benchmark: ``python -m bench [--smoke] [--report-dir DIR]``."""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import shlex
import sys
import tempfile
from pathlib import Path

from bench.harness import BenchOptions, run_benchmark
from bench.page import write_page
from invsync.devservices import open_services

logger = logging.getLogger(__name__)

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of at least 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure invsync against hand-written baselines on one input "
        "and print one summary line. Uses the servers named by "
        "INVSYNC_TEST_REDIS_URL and INVSYNC_TEST_KAFKA_BROKERS, or starts local ones.",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="small sizes for a run of under a minute, whose rates measure nothing; "
        "writes no page unless "
        "--report-dir is given",
    )
    parser.add_argument("--events", type=_positive, help="events in the workload")
    parser.add_argument(
        "--skus", type=_positive, help="SKUs in the Zipf popularity law"
    )
    parser.add_argument("--seed", type=int, default=7, help="workload seed")
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="directory for benchmarks.md and benchmarks/*.png "
        "(default: docs/ for a full run, none for --smoke)",
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the py-spy profile run"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="directory for configs and process logs"
    )
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace, work_dir: Path) -> BenchOptions:
    """Return the run's options: the smoke or full sizes, then explicit overrides."""
    if args.smoke:
        options = BenchOptions(
            events=2_000,
            skus=1_000,
            seed=args.seed,
            loads=(500,),
            load_duration_s=1.0,
            drain_timeout_s=30.0,
            read_repeats=200,
            profile=False,
            work_dir=work_dir,
        )
    else:
        options = BenchOptions(
            # Per-SKU pruning makes the cost per event grow with the SKU's
            # history, so the run length changes the rates (the page explains why).
            events=50_000,
            skus=100_000,
            seed=args.seed,
            loads=(5_000, 20_000, 50_000),
            load_duration_s=2.0,
            drain_timeout_s=90.0,
            read_repeats=2_000,
            profile=not args.no_profile,
            work_dir=work_dir,
            repeats=3,
        )
    return BenchOptions(
        events=options.events if args.events is None else args.events,
        skus=options.skus if args.skus is None else args.skus,
        seed=options.seed,
        loads=options.loads,
        load_duration_s=options.load_duration_s,
        drain_timeout_s=options.drain_timeout_s,
        read_repeats=options.read_repeats,
        profile=options.profile and not args.no_profile,
        work_dir=work_dir,
        repeats=options.repeats,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when a system's ATP differs from the replay's."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="invsync-bench-"))
    options = options_from(args, work_dir)
    report_dir = args.report_dir or (None if args.smoke else DOCS_DIR)
    with open_services(os.environ) as services:
        result = run_benchmark(services, options)
    # The pickled result lets bench.page render the page again without a rerun.
    with (work_dir / "result.pickle").open("wb") as output:
        pickle.dump(result, output)

    checks = " ".join(
        f"{run.name.replace(' ', '_').replace(',', '')}={run.check.split(':')[0]}"
        for run in result.systems
    )
    print(f"bench-check: {'passed' if result.passed else 'failed'} {checks}")
    if report_dir is not None:
        command = shlex.join(["python", "-m", "bench", *sys.argv[1:]])
        page = write_page(result, report_dir, command)
        print(f"bench-report: {page}")
    print(result.summary())
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
