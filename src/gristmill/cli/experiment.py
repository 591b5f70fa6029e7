"""`gristmill experiment EXPERIMENT.yaml`: pool → recipes → decontamination reports → tokenize →
train (one scale, one token budget, several seeds) → evaluate → leaderboard, every stage cached.

The experiment file names the pool, the datasets (recipes with overrides), the arms (a dataset
and a training variant such as MeCo) and the questions (arms compared with the question's
first arm, paired by seed). Stages live under --work, named by the hash of what they depend
on: a rerun reuses everything unchanged, a new arm runs only what is new, and a killed
experiment resumes. --dry-run prints the plan and the estimated time without running it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gristmill.core.ranges import POSITIVE


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="compare curation recipes end to end (train, evaluate, leaderboard)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", type=Path, help="experiment file (e.g. experiments/dclm-small.yaml)")
    p.add_argument("--work", type=Path, default=None,
                   help="where stages and the leaderboard go (default: out/experiments/NAME)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="executor for curation stages")
    p.add_argument("--workers", type=POSITIVE.parse, default=None, help="curation worker processes (default: all cores)")
    p.add_argument("--seeds", type=POSITIVE.parse, default=None, help="training seeds per arm (default: the file's)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and estimated time; run nothing")
    return p


def run(args: argparse.Namespace) -> int:
    from gristmill.experiment.leaderboard import render_text
    from gristmill.experiment.plan import build_plan, render_plan
    from gristmill.experiment.runner import Experiment, run_experiment
    from gristmill.experiment.spec import load_experiment

    spec = load_experiment(args.experiment, seeds=args.seeds)
    work = args.work or Path("out") / "experiments" / spec.name
    if args.dry_run:
        print(render_plan(build_plan(Experiment(spec, work, executor=args.executor, workers=args.workers))))
        return 0
    result = run_experiment(spec, work, executor=args.executor, workers=args.workers)
    print(render_text(result.leaderboard))
    print(f"\n{len(result.stages_run)} stage(s) run, {len(result.stages_reused)} reused, in {result.seconds:.1f} s",
          file=sys.stderr)
    print(f"leaderboard: {work / 'leaderboard.json'}\nreport:      {work / 'leaderboard.html'}")
    return 0
