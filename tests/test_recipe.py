"""Recipe loading and validation: every error names the file, the line and the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gristmill.cli import main
from gristmill.core.errors import RecipeError
from gristmill.engine.recipe import load_recipe, parse_recipe


def test_shipped_raw_recipe_loads_and_hash_is_stable():
    recipe = load_recipe("raw")
    assert recipe.name == "raw"
    assert [s.name for s in recipe.steps] == ["extract_text"]
    # sha256 of the canonical JSON of seed and steps: reproducible anywhere, by anyone.
    assert recipe.hash == hashlib.sha256(b'{"seed":0,"steps":[["extract_text",{}]]}').hexdigest()
    again = parse_recipe("name: other\nsteps:\n  - extract_text: {}\n")
    assert again.hash == recipe.hash  # the name and layout do not change what runs


def test_both_step_forms_and_bare_names():
    a = parse_recipe("steps:\n  - extract_text: {backend: trafilatura}\n")
    b = parse_recipe("steps:\n  - step: extract_text\n    backend: trafilatura\n")
    c = parse_recipe("- extract_text\n")
    assert a.hash == b.hash
    assert c.steps[0].kwargs == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps:\n  - extract_text: {}\n  - no_such_step: {}\n", "line 3: unknown step 'no_such_step'"),
        ("steps:\n  - extract_text: {colour: red}\n", "unknown key 'colour'"),
        ("steps:\n  - extract_text: {max_bytes: lots}\n", "key 'max_bytes' must be int"),
        ("name: x\nstep:\n  - extract_text\n", "line 2: unknown key 'step'"),
        ("steps:\n  - extract_text: {}\n    bad: [\n", "invalid YAML"),
        ("steps: []\n", "no steps"),
        ("seed: abc\nsteps:\n  - extract_text\n", "'seed' must be an integer"),
        ("steps:\n  - extract_text: {}\n    other: {}\n", "one-key mapping"),
    ],
)
def test_validation_errors_name_the_line_and_key(text, expected):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text, source="bad.yaml")
    assert "bad.yaml" in str(err.value)
    assert expected in str(err.value)


def test_yaml_never_executes_code():
    with pytest.raises(RecipeError):
        parse_recipe("steps:\n  - !!python/object/apply:os.system ['true']\n", source="evil.yaml")


def test_assets_placeholder_resolves_but_hash_stays_portable(tmp_path: Path):
    text = "steps:\n  - extract_text: {}\n"
    r1 = parse_recipe(text, assets=tmp_path / "a")
    r2 = parse_recipe(text, assets=tmp_path / "b")
    assert r1.hash == r2.hash


def test_cli_reports_bad_recipe_in_one_line(tmp_path: Path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - extract_text: {}\n  - nonexistent_filter: {}\n")
    code = main(["run", str(bad), "--input", str(tmp_path), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "line 3" in err and "nonexistent_filter" in err


def test_cli_missing_input_is_one_line(tmp_path: Path, capsys):
    code = main(["run", "raw", "--input", str(tmp_path / "missing.warc.gz"),
                 "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "missing.warc.gz" in err
