"""`gristmill dedup`: inputs in any document format, outputs, stats, and clear errors."""

from __future__ import annotations

import gzip

import orjson
import pytest

from dedup_corpus import read_folder
from gristmill.cli import main
from gristmill.core.stats import StepStats
from gristmill.dedup.bloom import BloomFilter
from gristmill.dedup.plan import plan_bloom
from gristmill.io.readers import read_documents


@pytest.fixture(scope="module")
def corpus(near_duplicates):
    return near_duplicates


@pytest.fixture(scope="module")
def gz_inputs(corpus, tmp_path_factory):
    """The same shards as plain .jsonl.gz files (DCLM-Pool's format)."""
    _, inputs = corpus
    root = tmp_path_factory.mktemp("cli-gz")
    paths = []
    for name, path in inputs:
        out = root / f"{name}.jsonl.gz"
        with gzip.open(out, "wb") as f:
            for d in read_documents(str(path)):
                f.write(orjson.dumps(d.to_record()) + b"\n")
        paths.append(out)
    return paths


def test_cli_bff_writes_a_standard_run_folder(corpus, gz_inputs, tmp_path, capsys):
    """`gristmill dedup` is a one-step recipe on the pipeline engine: the run folder, stats
    schema, accounting and resume are those of `gristmill run`."""
    docs, _ = corpus
    out = tmp_path / "out"
    rc = main(["dedup", "--method", "bff", "--input", *map(str, gz_inputs), "--output", str(out),
               "--keep-dropped", "--expected-ngrams", "400000"])
    assert rc == 0
    assert "bff_dedup" in capsys.readouterr().err  # the summary table
    stats = orjson.loads((out / "stats.json").read_bytes())
    t = stats["totals"]
    assert t["input_records"] == len(docs) == t["kept"] + t["dropped"] and t["accounted"]
    read, bff = (StepStats.from_dict(s) for s in stats["steps"])
    assert (read.name, bff.name) == ("read", "bff_dedup")
    assert bff.docs_dropped == t["dropped"] > 0 and bff.extra["paragraphs_removed"] > 0
    assert bff.bytes_in - bff.bytes_out > 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["recipe"]["steps"] == [{"bff_dedup": {"expected_ngrams": 400_000}}]
    assert sorted(p.name for p in (out / "documents").iterdir()) == [f"part-{i}.jsonl.zst" for i in range(4)]
    assert len(read_folder(out / "documents")) == t["kept"]
    dropped = read_folder(out / "dropped" / "bff_dedup")
    assert len(dropped) == t["dropped"]
    assert all(d.metadata["drop_reason"] == "bff_duplicate" for d in dropped.values())
    assert not list((out / ".state").rglob("work"))
    # A finished dedup run is not redone.
    assert main(["dedup", "--method", "bff", "--input", *map(str, gz_inputs), "--output", str(out),
                 "--keep-dropped", "--expected-ngrams", "400000"]) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_planner_estimate_equals_the_filter_a_run_allocates(corpus, tmp_path, capsys):
    _, inputs = corpus
    out = tmp_path / "out"
    assert main(["dedup", "--method", "bff", "--input", *(str(p) for _, p in inputs), "--output", str(out),
                 "--expected-ngrams", "123456", "--blocks", "8", "--keep-work", "--quiet"]) == 0
    marker = next((out / ".state").glob("stage-1/work/bff_dedup/filter/*.done.json"))
    allocated = orjson.loads(marker.read_bytes())["filter_bytes"]
    assert main(["dedup", "plan", "--ngrams", "123456", "--blocks", "8", "--json"]) == 0
    planned = orjson.loads(capsys.readouterr().out)["per_shard"]["allocated_bytes"]
    assert planned == allocated == BloomFilter(plan_bloom(123456, 0.01, 8)).nbytes


def test_cli_minhash_names_the_survivor_of_each_removed_document(corpus, tmp_path):
    docs, inputs = corpus
    out = tmp_path / "out"
    assert main(["dedup", "--method", "minhash", "--input", str(inputs[0][1].parent), "--output", str(out),
                 "--keep-dropped", "--num-perm", "112", "--bands", "14", "--rows", "8", "--quiet"]) == 0
    kept = read_folder(out / "documents")
    dropped = read_folder(out / "dropped")
    cluster = {d.id: d.cluster for d in docs}
    assert dropped
    for doc_id, d in dropped.items():
        assert d.metadata["duplicate_of"] in kept
        assert cluster[d.metadata["duplicate_of"]] == cluster[doc_id] != ""
    stats = orjson.loads((out / "stats.json").read_bytes())
    minhash = stats["steps"][-1]
    assert minhash["extra"]["clusters"] == len({d.metadata["duplicate_of"] for d in dropped.values()})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "exact", "--verify"], "--verify does not apply to --method exact"),
        (["--method", "minhash", "--bands", "20", "--rows", "10"], "exceeds num_perm"),
        (["--method", "bff", "--fp-rate", "2"], "--fp-rate must be a number in (0, 1), got 2.0"),
        (["--method", "bff"], "missing --input, --output"),
    ],
)
def test_cli_rejects_bad_options_with_one_line(argv, message, tmp_path, capsys, corpus):
    _, inputs = corpus
    if "missing" not in message:
        argv = [*argv, "--input", str(inputs[0][1]), "--output", str(tmp_path / "o")]
    assert main(["dedup", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_reports_a_missing_input(tmp_path, capsys):
    assert main(["dedup", "--method", "exact", "--input", str(tmp_path / "nope.jsonl.zst"),
                 "--output", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err


def test_bad_records_are_counted_and_the_rest_deduplicated(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    good = {"id": "a", "text": "same text here", "url": "", "metadata": {}}
    path.write_bytes(b"\n".join([orjson.dumps(good), b"{not json", orjson.dumps({**good, "id": "b"}), b""]))
    out = tmp_path / "out"
    argv = ["dedup", "--method", "exact", "--input", str(path), "--output", str(out), "--quiet"]
    assert main(argv) == 2  # 1 of 3 errored: above the default --max-error-rate
    assert main([*argv, "--max-error-rate", "0.5"]) == 0
    stats = orjson.loads((out / "stats.json").read_bytes())["totals"]
    assert stats["errored"] == 1 and stats["input_records"] == 3 and stats["dropped"] == 1
    assert list(read_folder(out / "documents")) == ["a"]
    [error] = [orjson.loads(line) for line in (out / "errors.jsonl").read_bytes().splitlines()]
    assert (error["file"], error["offset"], error["step"]) == ("mixed.jsonl", 2, "read")
    assert "mixed.jsonl@2" in capsys.readouterr().err  # the file and line of the bad record
