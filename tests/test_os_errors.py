"""What the operating system refuses is one line naming the path, exit 2, in every verb.

Each verb writes into an output that is a file where a folder should be, a read-only file
system, or a full one. Read-only and full are real tmpfs mounts where this process may mount
(root); otherwise read-only is a folder without write permission, and full is a file size limit
(RLIMIT_FSIZE, what a quota or a full disk looks like to a writer: the write fails) on the
verb run in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.cli import main
from lm_corpus import build_corpus, one_thread, subprocess_env, tokenize

VERBS = ("download", "run", "dedup", "tokenizer", "tokenize", "train", "export", "report", "demo")


@pytest.fixture(scope="module")
def material(shared_data, tmp_path_factory) -> dict[str, Path]:
    """Inputs for every verb: documents, a tokenizer, tokens, a checkpoint, a finished run."""
    root = tmp_path_factory.mktemp("os_errors")
    corpus = build_corpus(shared_data, root, wiki_docs=40, forum_docs=20)
    tokens = tokenize(corpus, root / "tok", 128)
    with one_thread():
        assert main(["train", "--scale", "cpu-micro", "--data", str(tokens), "--out",
                     str(root / "model"), "--max-steps", "1", "-q"]) == 0
    assert main(["run", "raw", "--input", str(corpus["wiki"]), "--output", str(root / "curated"),
                 "--workers", "1", "-q"]) == 0
    return {**corpus, "tokens": tokens, "model": root / "model", "curated": root / "curated",
            "mirror": shared_data / "commoncrawl"}


def command(verb: str, out: Path, m: dict[str, Path]) -> list[str]:
    """The verb writing its output at ``out`` (for report: the run folder it writes into)."""
    return {
        "download": ["download", "--crawl", "PAGES-2026", "--files", "1", "--records", "3",
                     "--base-url", str(m["mirror"]), "--out", str(out), "-q"],
        "run": ["run", "raw", "--input", str(m["wiki"]), "--output", str(out), "--workers", "1",
                "-q"],
        "dedup": ["dedup", "--method", "exact", "--input", str(m["wiki"]), "--output", str(out),
                  "-q"],
        "tokenizer": ["tokenizer", "train", "--input", str(m["wiki"]), "--vocab-size", "300",
                      "--out", str(out / "bpe.json")],
        "tokenize": ["tokenize", "--tokenizer", str(m["tokenizer"]), "--seq-len", "128",
                     "--input", str(m["wiki"]), "--out", str(out), "--workers", "1", "-q"],
        "train": ["train", "--scale", "cpu-micro", "--data", str(m["tokens"]), "--out", str(out),
                  "--max-steps", "1", "-q"],
        "export": ["export", str(m["model"]), "--out", str(out)],
        "report": ["report", str(out)],
        "demo": ["demo", "--base-url", str(m["mirror"]), "--crawl", "PAGES-2026", "--records",
                 "3", "--recipe", "raw", "--train-steps", "0", "--out", str(out)],
    }[verb]


def one_line_error(verb: str, code: int, err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("gristmill ")]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"gristmill {verb}: error: "), err
    return lines[0]


def _in_process(verb: str, args: list[str], capsys) -> str:
    capsys.readouterr()
    with one_thread():
        code = main(args)
    return one_line_error(verb, code, capsys.readouterr().err)


@contextlib.contextmanager
def output_folder(tmp_path: Path, verb: str, m: dict[str, Path]):
    """(mounted, root, out): ``out`` under ``root``, a fresh 1 MiB tmpfs when one can be
    mounted here (``mounted``), else a plain folder; for report, ``out`` holds a finished run."""
    root = tmp_path / "mnt"
    root.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
                          capture_output=True, check=False)
    mounted = done.returncode == 0
    try:
        if verb == "report":
            shutil.copytree(m["curated"], root / "out")
        yield mounted, root, root / "out"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


def _fill(folder: Path) -> None:
    """Write until the file system is full."""
    with open(folder / "filler", "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()


@pytest.mark.parametrize("verb", VERBS)
def test_a_file_where_the_output_folder_should_be(material, tmp_path, capsys, verb):
    a_file = tmp_path / "taken"
    a_file.write_text("not a folder")
    out = a_file if verb != "tokenizer" else a_file / "sub"
    line = _in_process(verb, command(verb, out, material), capsys)
    assert str(a_file) in line
    assert any(reason in line for reason in ("not a folder", "Not a directory",
                                             "File exists", "no stats.json")), line


@pytest.mark.parametrize("verb", VERBS)
def test_a_read_only_output(material, tmp_path, capsys, verb):
    with output_folder(tmp_path, verb, material) as (mounted, root, out):
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
            reason = "Read-only file system"
        elif os.geteuid() != 0:
            root.chmod(0o555)
            reason = "Permission denied"
        else:
            pytest.skip("root here, but mount is refused: a read-only output cannot be made")
        try:
            line = _in_process(verb, command(verb, out, material), capsys)
        finally:
            if not mounted:
                root.chmod(0o755)
    assert reason in line and str(root) in line, line


def _full_by_file_size_limit(verb: str, out: Path, m: dict[str, Path]) -> str:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    done = subprocess.run([sys.executable, "-m", "gristmill", *command(verb, out, m)],
                          capture_output=True, text=True, preexec_fn=limit, timeout=300,
                          env=subprocess_env(), check=False)
    return one_line_error(verb, done.returncode, done.stderr)


@pytest.mark.parametrize("verb", VERBS)
def test_a_full_output(material, tmp_path, capsys, verb):
    with output_folder(tmp_path, verb, material) as (mounted, root, out):
        if mounted:
            _fill(root)
            line = _in_process(verb, command(verb, out, material), capsys)
            assert "No space left on device" in line, line
        else:
            line = _full_by_file_size_limit(verb, out, material)
            assert "File too large" in line, line
    assert str(root) in line, line


def test_without_a_mount_a_file_size_limit_is_a_full_disk_too(material, tmp_path):
    # The mechanism used where tmpfs cannot be mounted, checked here on one verb everywhere.
    line = _full_by_file_size_limit("run", tmp_path / "out", material)
    assert "File too large" in line and str(tmp_path / "out") in line, line
