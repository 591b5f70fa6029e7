"""`gristmill experiment`: a small experiment end to end on a real crawl file, its stage cache
(a rerun does nothing, a new arm runs only what is new, an interrupted stage resumes), the
plan, the leaderboard's paired statistics, and one-line errors naming the arm or dataset."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from gristmill.cli import main
from gristmill.core.errors import GristmillError, RecipeError
from gristmill.experiment.leaderboard import paired, t975
from gristmill.experiment.runner import Experiment
from gristmill.experiment.spec import load_experiment

ARMS = """\
arms:
  raw: raw
  resiliparse: resiliparse
  raw_meco: {dataset: raw, meco: true}
questions:
  - {name: extraction, arms: [raw, resiliparse]}
  - {name: MeCo, arms: [raw, raw_meco]}
"""


def experiment_text(data: Path, arms: str = ARMS, tokens: int = 8192, extra: str = "") -> str:
    warc = data / "commoncrawl/crawl-data/PAGES-2026/segments/sample/warc/pages-00006.warc.gz"
    return textwrap.dedent(f"""\
        name: tiny
        pool: [{warc}]
        assets: {data / 'filters'}
        datasets:
          raw: {{recipe: raw}}
          resiliparse: {{recipe: raw, overrides: {{extract_text: {{backend: resiliparse}}}}}}
        """) + arms + textwrap.dedent(f"""\
        tokenizer: {{fit_on: raw, documents: 300, vocab_size: 512}}
        train: {{scale: cpu-micro, tokens: {tokens}, seeds: 2}}
        evaluate: {{tasks: "bits_per_byte,lambada_target", limit: 3, data: {data}}}
        decontaminate: {{evals: {data / 'evals/icl'}, tasks: [lambada_openai]}}
        """) + extra


def stage_dirs(work: Path) -> set[str]:
    return {str(p.parent.relative_to(work)) for p in work.glob("*/*/done.json")}


@pytest.fixture(scope="module")
def finished(shared_data, tmp_path_factory):
    """The tiny experiment run once: (experiment file, work folder, stdout)."""
    root = tmp_path_factory.mktemp("experiment")
    spec = root / "tiny.yaml"
    spec.write_text(experiment_text(shared_data))
    work = root / "work"
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        assert main(["experiment", str(spec), "--work", str(work)]) == 0
    return spec, work, out.getvalue()


def test_experiment_runs_every_stage_and_writes_the_leaderboard(finished):
    _spec, work, out = finished
    board = json.loads((work / "leaderboard.json").read_text())
    assert set(board["arms"]) == {"raw", "resiliparse", "raw_meco"}
    assert board["seeds"] == [0, 1]
    for arm in board["arms"].values():
        bpb = arm["metrics"]["bits_per_byte/bits_per_byte"]
        assert bpb["n"] == 2 and bpb["value"] > 0 and bpb["se"] >= 0
        lin = arm["lineage"]
        assert lin["documents_kept"] > 0 and lin["tokens_main"] > 0 and lin["scale"] == "cpu-micro"
        assert lin["recipe_hash"] and lin["code"]["gristmill"]
        assert lin["decontamination"]["items"] > 0
        assert set(lin["seconds"]) == {"curation", "tokenize", "train", "eval"}
    # The two extraction datasets really differ, the MeCo arm shares raw's documents.
    raw, res, meco = (board["arms"][a]["lineage"] for a in ("raw", "resiliparse", "raw_meco"))
    assert raw["stage_keys"]["dataset"] != res["stage_keys"]["dataset"]
    assert raw["stage_keys"]["dataset"] == meco["stage_keys"]["dataset"]
    assert raw["stage_keys"]["tokens"] != meco["stage_keys"]["tokens"]
    # Paired differences are arm minus baseline, seed by seed.
    q = next(q for q in board["questions"] if q["name"] == "extraction")
    d = q["differences"]["resiliparse"]["bits_per_byte/bits_per_byte"]
    runs = {a: [json.loads((work / "eval" / p.name / "done.json").read_text())["metrics"]
                ["bits_per_byte/bits_per_byte"]["value"] for p in sorted((work / "eval").glob(f"{a}-seed*"))]
            for a in ("raw", "resiliparse")}
    assert d["per_seed"] == pytest.approx([r - b for r, b in zip(runs["resiliparse"], runs["raw"], strict=True)])
    assert "intervals exclude zero; about 0.2 would by chance alone" in out  # 2 comparisons x 2 metrics
    assert "question: extraction" in out and (work / "leaderboard.html").read_text().count("<table") >= 3


def test_a_rerun_does_nothing_and_a_new_arm_runs_only_what_is_new(finished, capsys):
    spec, work, _ = finished
    before = stage_dirs(work)
    exp = Experiment(load_experiment(spec), work)
    exp.run()
    assert exp.run_log == [] and len(exp.reused_log) > 0
    # A new arm on an existing dataset: only its training and evaluation are new.
    bigger = spec.parent / "tiny-more.yaml"
    bigger.write_text(spec.read_text().replace("  raw_meco: {dataset: raw, meco: true}\n",
                                               "  raw_meco: {dataset: raw, meco: true}\n  raw_again: raw\n"))
    exp = Experiment(load_experiment(bigger, seeds=2), work)
    plan = main(["experiment", str(bigger), "--work", str(work), "--dry-run"])
    assert plan == 0
    text = capsys.readouterr().out
    assert "run    train raw_again seed 0" in text and "reuse  train raw seed 0" in text
    assert "reuse  dataset raw" in text and "epochs" in text
    exp.run()
    assert sorted(exp.run_log) == ["eval/raw_again-seed0", "eval/raw_again-seed1",
                                   "train/raw_again-seed0", "train/raw_again-seed1"]
    assert before < stage_dirs(work)


def test_an_interrupted_stage_resumes_and_gives_the_same_result(finished):
    spec, work, _ = finished
    exp = Experiment(load_experiment(spec), work)
    train = exp.train_stage("raw", 1)
    evaluation = exp.eval_stage("raw", 1)
    first = json.loads((evaluation.folder / "done.json").read_text())["metrics"]
    # As if killed after the last checkpoint was written, before the stage was marked done.
    (train.folder / "done.json").unlink()
    shutil.rmtree(evaluation.folder)
    exp.run()
    assert sorted(exp.run_log) == ["eval/raw-seed1", "train/raw-seed1"]
    events = (train.folder / "run" / "events.jsonl").read_text()
    assert "resume" in events
    again = json.loads((evaluation.folder / "done.json").read_text())["metrics"]
    assert again == first


def test_paired_differences_use_students_t():
    # t(0.975, 2) = 4.303 (any t table); mean 2, SE 1/sqrt(3).
    d = paired([1.0, 2.0, 3.0], higher_is_better=True)
    assert d["value"] == 2.0 and d["se"] == pytest.approx(3 ** -0.5)
    assert d["ci95"] == pytest.approx([2 - 4.303 / 3 ** 0.5, 2 + 4.303 / 3 ** 0.5])
    assert d["verdict"] == "no difference shown"
    assert paired([0.5, 0.6, 0.55], higher_is_better=False)["verdict"] == "worse"
    assert paired([0.5, 0.6, 0.55], higher_is_better=True)["verdict"] == "better"
    assert t975(1) == 12.706 and t975(100) == 1.96
    # One item of 100 lost in every seed: no spread, so no verdict either way.
    assert paired([-0.01, -0.01, -0.01], higher_is_better=True)["verdict"] == "same in every seed: no spread to test"


def test_errors_name_the_dataset_or_arm(shared_data, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(experiment_text(shared_data).replace("{recipe: raw}", "{recipe: refinedwebb}", 1))
    with pytest.raises(RecipeError, match=r"dataset 'raw'.*recipe not found: refinedwebb"):
        load_experiment(bad)
    bad.write_text(experiment_text(shared_data).replace("resiliparse: resiliparse", "resiliparse: nothing"))
    with pytest.raises(RecipeError, match=r"arm 'resiliparse': unknown dataset 'nothing'"):
        load_experiment(bad)
    bad.write_text(experiment_text(shared_data).replace("extract_text: {backend", "extract_txt: {backend"))
    with pytest.raises(RecipeError, match=r"dataset 'resiliparse': override of 'extract_txt'"):
        load_experiment(bad)


def test_an_empty_dataset_and_repeated_epochs_are_named(shared_data, tmp_path, capsys):
    spec = tmp_path / "empty.yaml"
    arms = "arms:\n  long: long_pages\n  raw: raw\n"
    text = experiment_text(shared_data, arms=arms, tokens=2048 * 2000).replace(
        "datasets:\n", "datasets:\n  long_pages: {recipe: raw.yaml}\n")
    (tmp_path / "raw.yaml").write_text("name: long\nsteps:\n  - extract_text: {}\n"
                                       "  - page_length_filter: {length_type: word, min_length: 90000, max_length: 100000}\n")
    spec.write_text(text)
    exp = Experiment(load_experiment(spec), tmp_path / "work")
    with pytest.raises(GristmillError, match=r"arm 'long': dataset 'long_pages' is empty after filtering"):
        exp.check_budget()
    spec.write_text(text.replace("  long: long_pages\n", ""))
    exp = Experiment(load_experiment(spec, seeds=1), tmp_path / "work")
    epochs = exp.check_budget()["raw"]
    assert epochs > 1 and epochs == 2048 * 2000 / (exp.tokens("raw")["sequences"]["main"] * 128)
    err = capsys.readouterr().err
    assert f"warning: arm 'raw': the budget of 4,096,000 tokens repeats dataset 'raw' {epochs:.2f} times" in err


@pytest.mark.ray
def test_curation_stages_on_ray_give_the_local_documents(finished, ray_local, tmp_path):
    spec, work, _ = finished
    local = Experiment(load_experiment(spec), work).dataset_stage("resiliparse")
    exp = Experiment(load_experiment(spec), tmp_path / "work", executor="ray")
    on_ray = exp.dataset_stage("resiliparse")
    assert on_ray.hash == local.hash  # the executor is not part of what a stage's output depends on
    exp.dataset("resiliparse")
    assert exp.run_log == ["datasets/resiliparse"]
    for ray_file, local_file in zip(sorted((on_ray.folder / "run/documents").glob("*.jsonl.zst")),
                                    sorted((local.folder / "run/documents").glob("*.jsonl.zst")), strict=True):
        assert ray_file.read_bytes() == local_file.read_bytes()


def test_shipped_experiments_validate_and_plan(shared_data, tmp_path, capsys):
    experiments = Path(__file__).resolve().parents[1] / "experiments"
    small = load_experiment(experiments / "dclm-small.yaml")
    assert set(small.arms) == {"wet_full_page", "resiliparse", "raw", "refinedweb_bff", "dclm_baseline",
                               "dclm_baseline_meco"} and small.train.seeds >= 3
    # dclm-baseline reuses refinedweb_bff's output, which reuses raw's extraction.
    exp = Experiment(small, tmp_path / "small")
    assert exp.parent_dataset(small.datasets["dclm_baseline"]).name == "refinedweb_bff"
    assert exp.parent_dataset(small.datasets["refinedweb_bff"]).name == "raw"
    assert main(["experiment", str(experiments / "dclm-400m.yaml"), "--dry-run", "--work", str(tmp_path / "400m")]) == 0
    plan = capsys.readouterr().out
    assert "8,232,325,120 tokens = 7851 steps" in plan and "download 2000 warc file(s) of CC-MAIN-2024-51" in plan
    assert "missing here: squad, coqa" in plan and "assumed 8×H100" in plan
