"""Published input is checked, not trusted: coverage of the question ranges, MSP range, encoding,
and a parsed cache that cannot be read is rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers.data.published import (PublishedFormatError, check_coverage, list_result_files, load_published,
                                    parse_published)


@pytest.fixture
def copy(published_dir, tmp_path) -> Path:
    """A private copy of the zero-shot results, to damage."""
    root = tmp_path / "published"
    shutil.copytree(published_dir / "main_results", root / "main_results")
    (root / "one_shot_results").mkdir()
    return root


def test_the_pinned_results_cover_every_question_once(published_dir):
    check_coverage(list_result_files(published_dir, 0))
    check_coverage(list_result_files(published_dir, 1))  # partial by design, but nothing doubled


def test_a_missing_range_is_named(copy):
    for kind in ("norm", "raw"):
        (copy / "main_results" / f"arc_Mistral-q500to1000_no_abst_{kind}_logits_first_prompt.txt").unlink()
    with pytest.raises(PublishedFormatError) as error:
        parse_published(copy, 0)
    message = str(error.value)
    assert "missing: Mistral arc first norm questions 500-1000" in message
    assert "missing: Mistral arc first raw questions 500-1000" in message


def test_a_missing_model_is_named(copy):
    for path in (copy / "main_results").glob("*_Yi-6b-*"):
        path.unlink()
    with pytest.raises(PublishedFormatError, match="missing: every zero-shot file of model Yi-6b"):
        parse_published(copy, 0)


def test_an_overlapping_range_is_named(copy):
    source = copy / "main_results" / "arc_Mistral-q0to500_no_abst_norm_logits_first_prompt.txt"
    lines = source.read_text().splitlines(keepends=True)
    (copy / "main_results" / "arc_Mistral-q250to750_no_abst_norm_logits_first_prompt.txt").write_text(
        "".join(lines[:1] + lines[1:501]))
    with pytest.raises(PublishedFormatError, match="doubled: arc_Mistral-q250to750"):
        parse_published(copy, 0)


def test_an_msp_outside_the_unit_interval_is_named_with_its_line(copy):
    path = copy / "main_results" / "arc_Mistral-q0to500_no_abst_norm_logits_first_prompt.txt"
    lines = path.read_text().splitlines(keepends=True)
    grade = lines[3].split(" ")[0]
    lines[3] = f"{grade} 1.5\n"
    path.write_text("".join(lines))
    with pytest.raises(PublishedFormatError, match=rf"{path.name}:4: MSP '1.5' is outside \[0, 1\]"):
        parse_published(copy, 0)


def test_a_max_logit_above_one_is_fine(published_dir):
    answers, _ = parse_published(published_dir, 0)
    assert answers["max_logit"].max() > 1


def test_a_non_ascii_byte_names_file_and_line(copy):
    path = copy / "main_results" / "mmlu_Solar-q0to500_no_abst_raw_logits_second_prompt.txt"
    data = bytearray(path.read_bytes())
    third_line = data.index(b"\n", data.index(b"\n") + 1) + 1
    data[third_line] = 0xE9
    path.write_bytes(bytes(data))
    with pytest.raises(PublishedFormatError, match=rf"{path.name}:3: byte 0xe9 is not ASCII text"):
        parse_published(copy, 0)


def test_a_truncated_cache_file_is_rebuilt(published_dir, tmp_path):
    cache = tmp_path / "cache"
    first = load_published(published_dir, shots=0, cache_dir=cache)
    answers = next(p for p in cache.glob("published-*.parquet") if "disagreements" not in p.name)
    answers.write_bytes(answers.read_bytes()[:1000])
    again = load_published(published_dir, shots=0, cache_dir=cache)
    assert len(again) == len(first) == 599_396
    assert again["msp"].equals(first["msp"])
