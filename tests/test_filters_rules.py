"""Every filter rule on documents built to sit exactly at, just below and just above its threshold.

Thresholds are DCLM's (``dclm_baseline_refinedweb.yaml``, ``c4.yaml``) and FineWeb's; a rule
drops when its measure is strictly above (or, for minimums, strictly below) the threshold, so
"at the threshold" must keep.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import gristmill.filters  # noqa: F401  (registers the steps)
from gristmill.core.document import Document
from gristmill.core.step import Drop, StepContext
from gristmill.engine.registry import build_step


@pytest.fixture(scope="module")
def assets(shared_data: Path) -> Path:
    return shared_data / "filters"


def apply(name: str, text: str, assets: Path | None = None, url: str = "", metadata: dict | None = None, **kwargs):
    """Build step ``name`` from ``kwargs`` (``${assets}`` resolved), set it up and apply it."""
    if assets is not None:
        kwargs = {k: v.replace("${assets}", str(assets)) if isinstance(v, str) else v for k, v in kwargs.items()}
    step = build_step(name, kwargs)
    step.setup(StepContext(seed=0, assets=assets))
    doc = Document(id="t", text=text, url=url, metadata=dict(metadata or {}))
    return step.apply_batch([doc])[0]


def kept(result) -> bool:
    return isinstance(result, Document)


def dropped(result, reason: str) -> bool:
    return isinstance(result, Drop) and result.reason == reason


def words(n: int, length: int = 5, seed: int = 0) -> list[str]:
    """``n`` distinct lowercase words of ``length`` letters (deterministic)."""
    rng = random.Random(seed)
    out: set[str] = set()
    result = []
    while len(result) < n:
        w = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(length))
        if w not in out:
            out.add(w)
            result.append(w)
    return result


# --- URL filters --------------------------------------------------------------------------

def test_url_domain_filter_exact_host_with_www_stripped(assets: Path) -> None:
    cfg = {"domains": ["example.com"]}
    assert dropped(apply("url_domain_filter", "x", url="https://www.Example.com/a", **cfg), "url_domain")
    assert dropped(apply("url_domain_filter", "x", url="http://example.com:8080/", **cfg), "url_domain")
    assert kept(apply("url_domain_filter", "x", url="https://sub.example.com/", **cfg))
    assert kept(apply("url_domain_filter", "x", url="https://notexample.com/", **cfg))
    parent = {**cfg, "match_parent_domains": True}
    assert dropped(apply("url_domain_filter", "x", url="https://a.sub.example.com/", **parent), "url_domain")


def test_url_domain_filter_dclm_compat_deletes_www_anywhere() -> None:
    cfg = {"domains": ["example.com", ".example.com"], "dclm_compat": True}
    # DCLM looks up netloc.lower() with every "www" deleted: ".example.com", port kept.
    assert dropped(apply("url_domain_filter", "x", url="https://www.example.com/", **cfg), "url_domain")
    assert kept(apply("url_domain_filter", "x", url="https://example.com:8080/", **cfg))
    aards = {"domains": ["aards.com"], "dclm_compat": True}
    assert dropped(apply("url_domain_filter", "x", url="https://awwwards.com/", **aards), "url_domain")
    assert kept(apply("url_domain_filter", "x", url="https://awwwards.com/", domains=["aards.com"]))


def test_url_domain_filter_reads_the_ut1_tarball(assets: Path) -> None:
    cfg = {"banlist_file": "${assets}/ut1-blocklist.tar.gz", "member": "domains"}
    assert dropped(apply("url_domain_filter", "x", assets, url="https://www.pornhub.com/v", **cfg), "url_domain")
    assert kept(apply("url_domain_filter", "x", assets, url="https://en.wikipedia.org/wiki/A", **cfg))


def test_url_strict_words_are_substrings_after_removing_dashes_and_dots(assets: Path) -> None:
    cfg = {"banlist_file": "${assets}/refinedweb_banned_words_strict_reverse_engineered.txt",
           "ignore_chars": ["-", "."], "reason": "url_strict_word"}
    assert dropped(apply("url_word_filter", "", assets, url="https://x.com/Big-Tits.html", **cfg), "url_strict_word")
    assert kept(apply("url_word_filter", "", assets, url="https://x.com/big_tits.html", **cfg))


def test_url_hard_words_need_word_boundaries(assets: Path) -> None:
    cfg = {"banlist_file": "${assets}/refinedweb_banned_words_hard_reverse_engineered.txt",
           "match_substrings": False, "reason": "url_hard_word"}
    assert dropped(apply("url_word_filter", "", assets, url="https://x.com/free-porn/", **cfg), "url_hard_word")
    assert kept(apply("url_word_filter", "", assets, url="https://x.com/freeporno/", **cfg))


def test_url_soft_words_need_two_distinct(assets: Path) -> None:
    cfg = {"banlist_file": "${assets}/refinedweb_banned_words_soft_reverse_engineered.txt",
           "match_substrings": False, "min_matches": 2, "reason": "url_soft_words"}
    assert dropped(apply("url_word_filter", "", assets, url="https://x.com/sex/ass", **cfg), "url_soft_words")
    assert kept(apply("url_word_filter", "", assets, url="https://x.com/sex/sex-ed", **cfg))
    assert kept(apply("url_word_filter", "", assets, url="https://x.com/sex-ed/", **cfg))


# --- text clean-up ------------------------------------------------------------------------

def test_url_removal_removes_urls_anywhere_and_ips(assets: Path) -> None:
    cfg = {"tlds": "${assets}/iana_tlds.txt"}
    out = apply("url_removal_modifier", "(see www.example.com/a?b=1 or 10.0.0.1:80 now)", assets, **cfg)
    assert out.text == "(see or now)"
    # DCLM only removes TLD-URLs when the document *starts* with a TLD string ("(" does not).
    compat = apply("url_removal_modifier", "(see www.example.com or 10.0.0.1 now)", assets, dclm_compat=True, **cfg)
    assert compat.text == "(see www.example.com or now)"
    compat = apply("url_removal_modifier", "see www.example.com now", assets, dclm_compat=True, **cfg)
    assert compat.text == "see now"  # "se" (Sweden) is a TLD at the start
    assert dropped(apply("url_removal_modifier", "http://example.com", assets, **cfg), "url_removal_empty")


def test_newline_removal_keeps_at_most_two() -> None:
    assert apply("newline_removal_modifier", "a\n\n\n\n\nb\n\nc\nd").text == "a\n\nb\n\nc\nd"


# --- language id --------------------------------------------------------------------------

ENGLISH = "The committee will meet on Tuesday to discuss the budget and the new library."


def test_language_id_scores_whole_page_with_newlines_as_spaces() -> None:
    out = apply("language_id", ENGLISH)
    score = out.metadata["language_id_whole_page_fasttext"]
    assert list(score) == ["en"] and score["en"] > 0.65
    split = ENGLISH.replace(" and", "\nand")
    assert apply("language_id", split).metadata == out.metadata
    # DCLM deletes newlines: "budget\nand" scores as "budgetand".
    fused = apply("language_id", ENGLISH.replace(" and", "and"))
    assert apply("language_id", split, dclm_compat=True).metadata == fused.metadata != out.metadata
    assert apply("language_id", "... !!! ,").metadata["language_id_whole_page_fasttext"] == {}


def test_language_filter_is_strictly_above_threshold() -> None:
    score = apply("language_id", ENGLISH).metadata["language_id_whole_page_fasttext"]["en"]
    assert kept(apply("language_filter", ENGLISH, threshold=score - 1e-6))
    assert dropped(apply("language_filter", ENGLISH, threshold=score), "language")
    french = "Le comité se réunira mardi pour discuter du budget et de la nouvelle bibliothèque."
    assert dropped(apply("language_filter", french), "language")
    assert kept(apply("language_filter", french, languages=["fr", "en"]))


# --- Gopher quality -----------------------------------------------------------------------

def test_page_length_counts_alphanumeric_fasttext_tokens() -> None:
    text50 = " ".join(words(50)) + " — -- ... "  # punctuation tokens are not words
    assert kept(apply("page_length_filter", text50))
    assert dropped(apply("page_length_filter", " ".join(words(49)) + " —"), "too_few_words")
    assert dropped(apply("page_length_filter", text50, min_length=0, max_length=49), "too_many_words")
    # fastText splits on ASCII whitespace only: a no-break space joins two words.
    assert dropped(apply("page_length_filter", " ".join(words(47)) + " a\u00a0b c"), "too_few_words")
    assert kept(apply("page_length_filter", " ".join(words(47)) + " a\tb c"))


def test_word_length_mean_between_3_and_10() -> None:
    assert kept(apply("word_length_filter", " ".join(["abc"] * 100)))
    assert dropped(apply("word_length_filter", " ".join(["abc"] * 99 + ["ab"])), "word_length_too_short")
    assert kept(apply("word_length_filter", " ".join(["abcdefghij"] * 100)))
    assert dropped(apply("word_length_filter", " ".join(["abcdefghij"] * 99 + ["abcdefghijk"])), "word_length_too_long")
    assert dropped(apply("word_length_filter", " \n "), "word_length_empty")


def test_symbol_ratio_counts_hashes_and_ellipses() -> None:
    base = words(90)
    assert kept(apply("symbol_ratio_filter", " ".join(base + ["#tag"] * 5 + ["wait..."] * 4 + ["…"])))
    assert dropped(apply("symbol_ratio_filter", " ".join(base + ["#tag"] * 5 + ["wait..."] * 5 + ["…"])), "symbol_ratio")
    assert dropped(apply("symbol_ratio_filter", " ".join(base + ["#"] * 10 + [". . ."])), "symbol_ratio")


@pytest.mark.parametrize(("n_bullets", "keep"), [(18, True), (19, False)])
def test_bullet_lines_above_90_percent(n_bullets: int, keep: bool) -> None:
    bullets = ["• item", "* item", "- item", "● item"]
    lines = [bullets[i % 4] for i in range(n_bullets)] + ["plain line"] * (20 - n_bullets) + ["", "  "]
    result = apply("bullet_count_filter", "\n".join(lines))
    assert kept(result) if keep else dropped(result, "bullet_lines")


@pytest.mark.parametrize(("n_ellipsis", "keep"), [(3, True), (4, False)])
def test_ellipsis_lines_above_30_percent(n_ellipsis: int, keep: bool) -> None:
    ends = ["and so on...", "and so on. . .", "and so on…"]
    lines = [ends[i % 3] for i in range(n_ellipsis)] + ["a full line."] * (10 - n_ellipsis)
    result = apply("ellipsis_count_filter", "\n".join(lines))
    assert kept(result) if keep else dropped(result, "ellipsis_lines")


@pytest.mark.parametrize(("n_numeric", "keep"), [(2, True), (3, False)])
def test_alphabetic_word_ratio(n_numeric: int, keep: bool) -> None:
    tokens = ["2024", "½", "--"][:n_numeric] + ["word"] * (10 - n_numeric)
    result = apply("alphabetic_word_ratio_filter", " ".join(tokens))
    assert kept(result) if keep else dropped(result, "alphabetic_word_ratio")


def test_stop_words_counted_case_insensitively_as_whole_tokens() -> None:
    assert kept(apply("stop_word_filter", "The cat and THE dog"))
    assert dropped(apply("stop_word_filter", "The cat, the, dog"), "stop_words")
    assert dropped(apply("stop_word_filter", "the cat the dog", count_unique=True), "stop_words")
    assert kept(apply("stop_word_filter", "the cat and dog", count_unique=True))


# --- Gopher repetition --------------------------------------------------------------------

def rep(text: str) -> str | None:
    result = apply("gopher_repetition_filter", text)
    return None if isinstance(result, Document) else result.reason


def test_repetition_duplicate_line_fraction() -> None:
    uniq = [" ".join(words(8, seed=i)) for i in range(1, 8)]  # 7 long unique lines
    assert rep("\n".join(["x y"] * 3 + uniq)) is None  # 3/10 = 0.30
    assert rep("\n".join(["x y"] * 4 + uniq)) == "gopher_rep_dup_line_frac"  # 4/11


def test_repetition_duplicate_line_characters() -> None:
    dup = "abcdefghi "  # stripped to 9 characters
    # 2 x 9 duplicated characters over 90 in 7 lines: 0.2 keeps, a character less drops.
    uniq = [words(1, n, seed=i)[0] for i, n in enumerate((14, 14, 14, 14, 16))]
    assert rep("\n".join([dup, dup, *uniq])) is None
    uniq[-1] = uniq[-1][:-1]
    assert rep("\n".join([dup, dup, *uniq])) == "gopher_rep_dup_line_char_frac"


def test_repetition_duplicate_paragraphs() -> None:
    uniq = [" ".join(words(8, seed=i)) + "\n" + " ".join(words(8, seed=50 + i)) for i in range(7)]
    assert rep("\n\n".join(["x y"] * 3 + uniq)) is None
    assert rep("\n\n".join(["x y"] * 4 + uniq)) == "gopher_rep_dup_para_frac"


def test_repetition_top_2gram() -> None:
    # "ab cd" five times: 5 x 4 = 20 word characters out of 100 (0.2) keeps; out of 99 drops.
    fill = words(16, 5)
    text = " ".join(f"ab cd {w}" for w in fill[:5]) + " " + " ".join(fill[5:])
    assert rep(text) is None
    assert rep(text[:-1]) == "gopher_rep_top_2gram"


def test_repetition_duplicated_10gram_only() -> None:
    # A repeated 10-gram covers 20 words (every smaller n-gram repeats with the same cover):
    # 20 x 3 = 60 characters. With 600 in all (0.10) it keeps; with 599 only the 10-gram rule
    # (0.10) fails, the 5- to 9-gram thresholds (0.15 ... 0.11) still hold.
    ten = words(10, 3, seed=7)
    fill = words(108, 5, seed=8)
    text = " ".join(ten + fill[:54] + ten + fill[54:])
    assert rep(text) is None
    assert rep(text[:-1]) == "gopher_rep_dup_10gram"


def test_repetition_duplicated_5gram() -> None:
    five = words(5, 3, seed=9)  # 2 x 15 = 30 characters over 200
    fill = words(34, 5, seed=10)
    text = " ".join(five + fill[:17] + five + fill[17:])
    assert rep(text) is None
    assert rep(text[:-1]) == "gopher_rep_dup_5gram"


def test_repetition_single_line_and_empty() -> None:
    assert rep("one line only") is None
    assert rep(" \n\n ") == "gopher_rep_empty"


# --- RefinedWeb line corrections ----------------------------------------------------------

def test_uppercase_lines_above_half_are_removed() -> None:
    assert apply("uppercase_ratio_line_modifier", "ABcd\nABCd\nok\n").text == "ABcd\nok"
    assert dropped(apply("uppercase_ratio_line_modifier", "ABC\nDEF"), "uppercase_lines_empty")


def test_numeric_lines_are_removed() -> None:
    assert apply("numeric_ratio_line_modifier", "12345\n1234a\n²³").text == "1234a"


def test_counter_lines_are_removed() -> None:
    text = "Great read\n12.5K Likes\n  3 comments!\nI got 12 likes today"
    assert apply("counter_line_modifier", text).text == "Great read\nI got 12 likes today"


def test_single_word_lines_are_removed_but_not_stripped() -> None:
    assert apply("line_length_modifier", "one\n\none two\n ", min_length=2).text == "\none two"


def test_substring_line_modifier_as_in_refinedweb() -> None:
    cfg = {"max_length": 10, "remove_substring_only": True}
    assert apply("substring_line_modifier", "Shop\n3 Items in cart", banlist="items in cart", **cfg).text == "Shop\n3"
    suffix = {**cfg, "banlist": "Read more...", "location": "suffix"}
    assert apply("substring_line_modifier", "Great post Read more...", **suffix).text == "Great post"
    assert apply("substring_line_modifier", "Great post Read moreXYZ", **suffix).text == "Great post Read moreXYZ"
    # DCLM's unescaped pattern lets "..." match any three characters.
    compat = apply("substring_line_modifier", "Great post Read moreXYZ", dclm_compat=True, **suffix)
    assert compat.text == "Great post"
    prefix = {**cfg, "banlist": "Sign-in", "location": "prefix"}
    assert apply("substring_line_modifier", "Sign-in to comment", **prefix).text == "to comment"
    long_line = "Sign-in " + " ".join(words(10))
    assert apply("substring_line_modifier", long_line, **prefix).text == long_line  # 11 words


def test_word_removal_ratio_above_5_percent() -> None:
    meta = {"previous_word_count": 100}
    assert kept(apply("word_removal_ratio_filter", " ".join(words(95)), metadata=meta))
    assert dropped(apply("word_removal_ratio_filter", " ".join(words(94)), metadata=meta), "word_removal_ratio")
    counted = apply("word_counter_enricher", " ".join(words(7)) + " -- !!")
    assert counted.metadata["previous_word_count"] == 7


# --- C4 -----------------------------------------------------------------------------------

def test_c4_line_rules() -> None:
    long_word = "x" * 1001
    assert apply("word_length_modifier", f"keep this\ndrop {long_word}").text == "keep this"
    assert apply("citation_removal_modifier", "Fact.[12] More[edit] text[citation needed][]").text == "Fact. More text"
    text = 'Ends well.\nNo end\nShout!\n"Quoted"\nTrailing...\nSpaced ?  \n'
    assert apply("punctuation_line_modifier", text).text == 'Ends well.\nShout!\n"Quoted"\nSpaced ?  \n'
    assert "Trailing..." in apply("punctuation_line_modifier", text, remove_ellipses=False).text
    five = "one two three four five"
    assert apply("line_length_modifier", f"{five}\none two three four", min_length=5).text == five


def test_modifiers_drop_documents_they_leave_empty() -> None:
    assert dropped(apply("citation_removal_modifier", "[1][edit]"), "citation_removal_empty")
    assert dropped(apply("citation_removal_modifier", ""), "citation_removal_empty")
    assert dropped(apply("word_length_modifier", ""), "long_word_lines_empty")
    assert dropped(apply("punctuation_line_modifier", "no end"), "punctuation_lines_empty")
    assert dropped(apply("counter_line_modifier", "5 likes\n\n"), "counter_lines_empty")
    assert dropped(apply("substring_line_modifier", "  \n ", banlist="x"), "substring_lines_empty")
    with pytest.raises(ValueError, match="previous_word_count"):
        apply("word_removal_ratio_filter", "text without the count")


def test_c4_document_rules(assets: Path) -> None:
    assert dropped(apply("substring_filter", "Lorem Ipsum dolor", banlist=["lorem ipsum"], reason="c4_lorem_ipsum"), "c4_lorem_ipsum")
    assert dropped(apply("substring_filter", "if (x) { y }", banlist=["{"], reason="c4_curly_bracket"), "c4_curly_bracket")
    bad = {"banlist_file": "${assets}/ldnoobw.txt", "exact_word": True, "reason": "c4_badwords"}
    assert dropped(apply("substring_filter", "What an Ass.", assets, **bad), "c4_badwords")
    assert kept(apply("substring_filter", "A first class passage.", assets, **bad))
    assert apply("substring_line_modifier", "Fine.\nEnable JavaScript now.", banlist=["javascript"]).text == "Fine."
    assert apply("within_page_dedup", "A line\nother\n a LINE \n\n\nend").text == "A line\nother\n\n\nend"
    three = "It rained. The river rose. Mr. Smith left by boat."
    cfg = {"length_type": "sentence", "min_length": 3, "max_length": None}
    assert kept(apply("page_length_filter", three, **cfg))
    assert dropped(apply("page_length_filter", "It rained. Mr. Smith left by boat.", **cfg), "too_few_sentences")


# --- FineWeb ------------------------------------------------------------------------------

def fineweb(text: str, **cfg) -> str | None:
    result = apply("fineweb_quality_filter", text, **cfg)
    return None if isinstance(result, Document) else result.reason


def long_line(i: int, end: str = ".") -> str:
    return " ".join(words(8, seed=100 + i)) + end


def test_fineweb_line_punctuation_ratio() -> None:
    # 3 of 25 lines end in punctuation: 0.12 keeps, 2 of 25 drops (lines long, no duplicates).
    lines = [long_line(i, "." if i < 3 else "") for i in range(25)]
    assert fineweb("\n".join(lines)) is None
    lines[2] = lines[2][:-1]
    assert fineweb("\n".join(lines)) == "fineweb_line_punct_ratio"


def test_fineweb_short_line_ratio() -> None:
    lines = [long_line(i) for i in range(100)]
    short = [f"Item {i:02d}." for i in range(67)]  # 9 characters
    assert fineweb("\n".join(short + lines[:33])) is None  # 67/100
    assert fineweb("\n".join([*short, "Item 99.", *lines[:32]])) == "fineweb_short_line_ratio"


def test_fineweb_duplicated_characters() -> None:
    # 20 unique lines of 49 characters + a 10-character line twice: the repeat is 10 of 1000
    # non-newline characters (0.01) and keeps; with one character less in all it drops.
    base = [" ".join(words(7, 6, seed=200 + i)) + "." for i in range(20)]
    dup = "abcdefghi."
    assert fineweb("\n".join([*base, dup, dup])) is None
    base[0] = base[0][1:]
    assert fineweb("\n".join([*base, dup, dup])) == "fineweb_char_dup_ratio"


def test_fineweb_list_ratio() -> None:
    # 10 lines of 3 tokens ("aaa bbb." is 3 tokens: two words and a period): 9 newlines / 30.
    lines = [f"{a} {b}." for a, b in zip(words(10, 4, seed=1), words(10, 4, seed=2), strict=True)]
    assert fineweb("\n".join(lines), short_line_thr=1.0) is None
    assert fineweb("\n".join(lines) + "\n", short_line_thr=1.0) == "fineweb_list_ratio"  # 10/30 > 0.3
