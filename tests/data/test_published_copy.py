"""A local copy of the results is checked against the pinned files, and differences are named."""

from __future__ import annotations

import shutil
import warnings

import pytest

from helpers.data.published import (PINNED_LISTING, RESULTS_DIGEST, PublishedCopyWarning, check_copy,
                                    content_digest, copy_differences)
from helpers.report.words import copy_note


def test_the_listing_is_the_pinned_digest(published_dir):
    lines = PINNED_LISTING.read_text().splitlines()
    assert len(lines) == 3913
    assert content_digest(published_dir) == RESULTS_DIGEST
    assert copy_differences(published_dir) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_copy(published_dir) == []


def test_a_changed_copy_is_named(published_dir, tmp_path):
    root = tmp_path / "copy"
    for folder in ("main_results", "one_shot_results"):
        shutil.copytree(published_dir / folder, root / folder)
    changed = root / "main_results" / "arc_Mistral-q0to500_no_abst_norm_logits_first_prompt.txt"
    changed.write_text(changed.read_text().replace("Correct", "Wrong", 1))
    (root / "one_shot_results" / "arc_Yi-6b-q0to500_no_abst_raw_logits_second_prompt_few_shot_1.txt").unlink()
    (root / "main_results" / "stray.txt").write_text("grade confidence_level\n")
    differences = copy_differences(root)
    assert differences == ["changed: main_results/arc_Mistral-q0to500_no_abst_norm_logits_first_prompt.txt",
                           "extra: main_results/stray.txt",
                           "missing: one_shot_results/arc_Yi-6b-q0to500_no_abst_raw_logits_second_prompt_few_shot_1.txt"]
    with pytest.warns(PublishedCopyWarning, match=r"differ from the pinned commit c176fdd333ed in 3 files "
                                                  r"\(changed: main_results/arc_Mistral"):
        check_copy(root)
    assert copy_note(differences).startswith("Note: these results are not the authors' pinned files; 3 files")
    assert copy_note([]) == ""
