"""The published-results loader: small files written here in the authors' format, then the real data."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data import published as pub
from helpers.data.published import PublishedFormatError, load_published, parse_published


@pytest.fixture(autouse=True)
def partial_folders_allowed(request, monkeypatch):
    """The hand-written folders below hold a few lines of a few runs, not the paper's full coverage,
    which ``parse_published`` checks first (tested on the real data in test_published_checks.py):
    that check is off here except for the tests on the real data."""
    if not {"published_dir", "published"} & set(request.fixturenames):
        monkeypatch.setattr(pub, "check_coverage", lambda files: None)


def write(root: Path, name: str, lines: list[str], folder: str = "main_results",
          header: str = "grade confidence_level") -> Path:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def name(kind="norm", model="Mistral", dataset="arc", start=0, end=3, phrasing="first", shots=0):
    suffix = "_few_shot_1" if shots else ""
    return f"{dataset}_{model}-q{start}to{end}_no_abst_{kind}_logits_{phrasing}_prompt{suffix}.txt"


@pytest.fixture
def small(tmp_path):
    """One open model (norm + raw twins) and one API model (norm only), one-shot files too."""
    write(tmp_path, name("norm"), ["Correct 0.9", "Wrong 0.5", "Unparseable 0"])
    write(tmp_path, name("raw"), ["Correct 21.5", "Wrong 17.25", "Unparseable 0"])
    write(tmp_path, name("norm", start=500, end=502, phrasing="second"), ["Wrong 0.25", "Correct 1.0"])
    write(tmp_path, name("raw", start=500, end=502, phrasing="second"), ["Correct 3.5", "Correct 30"])
    write(tmp_path, name("norm", model="gpt-4-turbo", dataset="mmlu", end=2), ["Correct 0.999", "Wrong 0.6"])
    (tmp_path / "one_shot_results").mkdir()
    write(tmp_path, name("norm", shots=1, end=1), ["Wrong 0.4"], folder="one_shot_results")
    write(tmp_path, name("raw", shots=1, end=1), ["Wrong 12"], folder="one_shot_results")
    return tmp_path


def test_tidy_table_from_small_files(small):
    answers, report = parse_published(small, shots=0)
    assert list(answers.columns) == ["source", "model", "dataset", "phrasing", "shots", "qid",
                                     "grade", "correct", "msp", "max_logit", "grade_max_logit",
                                     "correct_max_logit"]
    assert answers.msp.dtype == np.float64 and answers.max_logit.dtype == np.float64
    assert len(answers) == 7
    mistral = answers[answers.model == "Mistral"].sort_values(["phrasing", "qid"])
    assert mistral.qid.tolist() == [0, 1, 2, 500, 501]
    assert mistral.grade.astype(str).tolist() == ["correct", "wrong", "unparseable", "wrong", "correct"]
    assert mistral.correct.tolist() == [True, False, False, False, True]
    np.testing.assert_array_equal(mistral.msp, np.array([0.9, 0.5, 0, 0.25, 1.0]))  # the files' digits, float64
    np.testing.assert_array_equal(mistral.max_logit, np.array([21.5, 17.25, 0, 3.5, 30]))
    gpt = answers[answers.model == "gpt-4-turbo"]
    assert gpt.dataset.astype(str).tolist() == ["mmlu", "mmlu"] and gpt.max_logit.isna().all()
    assert (answers.source == "published").all() and (answers.shots == 0).all()


def test_grade_disagreement_keeps_each_signals_grade_and_is_reported(small):
    answers, report = parse_published(small, shots=0)
    # second phrasing, q500: norm says Wrong, raw says Correct
    row = answers[(answers.model == "Mistral") & (answers.qid == 500)].iloc[0]
    assert row.grade == "wrong" and not row.correct
    assert row.grade_max_logit == "correct" and row.correct_max_logit  # each signal keeps its file's grade
    assert len(report) == 1
    r = report.iloc[0]
    assert (r.model, r.dataset, r.phrasing, r.qid, r.line) == ("Mistral", "arc", "second", 500, 2)
    assert (r.norm_grade, r.raw_grade) == ("wrong", "correct")
    assert r.norm_file == name("norm", start=500, end=502, phrasing="second")


def test_shots_select_folders(small):
    one, _ = parse_published(small, shots=1)
    assert len(one) == 1 and one.shots.iloc[0] == 1 and one.max_logit.iloc[0] == 12
    both, _ = parse_published(small, shots=None)
    assert len(both) == 8 and sorted(both.shots.unique()) == [0, 1]


@pytest.mark.parametrize("bad_name", [
    "arc_Mistral-q0to3_norm_logits_first_prompt.txt",            # no _no_abst_
    "arc_Mistral-q0to3_no_abst_norm_logits_third_prompt.txt",    # unknown phrasing
    "boolq_Mistral-q0to3_no_abst_norm_logits_first_prompt.txt",  # unknown dataset
    "arc_Mistral-q3to3_no_abst_norm_logits_first_prompt.txt",    # empty range
    "arc_Mistral-q0to3_no_abst_norm_logits_first_prompt_few_shot_1.txt",  # one-shot in zero-shot folder
])
def test_bad_file_name_is_named(tmp_path, bad_name):
    path = write(tmp_path, bad_name, ["Correct 0.9", "Wrong 0.5", "Wrong 0.1"])
    with pytest.raises(PublishedFormatError, match=bad_name.replace(".", r"\.")):
        parse_published(tmp_path)
    assert path.exists()


@pytest.mark.parametrize("lines, header, message", [
    (["Correct 0.9", "Wrong 0.5", "Wrong 0.1"], "grade confidence", r":1: header is"),
    (["Correct 0.9", "Wrong 0.5", "Wrong 0.1"], "", r":1: header is"),
    (["Correct 0.9", "Maybe 0.5", "Wrong 0.1"], None, r":3: unknown grade 'Maybe'"),
    (["Correct 0.9", "Wrong 0.5", "Wrong high"], None, r":4: confidence 'high' is not a number"),
    (["Correct 0.9", "Wrong 0.5", "Wrong nan"], None, r":4: confidence 'nan' is not finite"),
    (["Correct 0.9", "Wrong", "Wrong 0.1"], None, r":3: expected 'grade confidence'"),
    (["Correct 0.9", "Wrong 0.5 extra", "Wrong 0.1"], None, r":3: expected 'grade confidence'"),
    (["Correct 0.9", "", "Wrong 0.1"], None, r":3: expected 'grade confidence'"),
    (["Correct 0.9", "Wrong 0.5"], None, r"2 data lines for the range q0to3 \(expected 3\)"),
    (["Correct 0.9", "Wrong 0.5", "Wrong 0.1", "Correct 0.2"], None, r"4 data lines"),
])
def test_bad_content_names_file_and_line(tmp_path, lines, header, message):
    kwargs = {} if header is None else {"header": header}
    fname = name("norm", model="gpt-4-turbo")
    write(tmp_path, fname, lines, **kwargs)
    with pytest.raises(PublishedFormatError, match=fname.replace(".", r"\.") + ".*" + message):
        parse_published(tmp_path)


def test_bad_line_in_a_later_file_is_found(small):
    path = write(small, name("norm", dataset="winogrande", model="gpt-4-turbo", end=2), ["Correct 0.5", "Correct x"])
    with pytest.raises(PublishedFormatError, match=rf"{path.name}:3: confidence 'x'"):
        parse_published(small)


def test_norm_without_raw_twin(small):
    path = write(small, name("norm", dataset="hellaswag"), ["Correct 0.9", "Wrong 0.5", "Wrong 0.1"])
    with pytest.raises(PublishedFormatError, match=rf"{path.name}: norm file without its raw twin"):
        parse_published(small)


def test_open_model_without_any_raw_file(tmp_path):
    path = write(tmp_path, name("norm", model="Llama-7b"), ["Correct 0.9", "Wrong 0.5", "Wrong 0.1"])
    with pytest.raises(PublishedFormatError, match=rf"{path.name}: norm file without its raw twin"):
        parse_published(tmp_path)


def test_raw_without_norm_twin(small):
    path = write(small, name("raw", dataset="hellaswag"), ["Correct 9", "Wrong 5", "Wrong 1"])
    with pytest.raises(PublishedFormatError, match=rf"{path.name}: raw file without its norm twin"):
        parse_published(small)


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="main_results"):
        load_published(tmp_path, cache_dir=tmp_path / "cache")


def test_parquet_cache_is_keyed_by_content(small, tmp_path):
    cache = tmp_path / "cache"
    first = load_published(small, cache_dir=cache)
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and all(f.startswith("published-") for f in files)
    pd.testing.assert_frame_equal(first, load_published(small, cache_dir=cache))
    assert sorted(p.name for p in cache.iterdir()) == files  # warm: nothing new written
    write(small, name("norm", model="gpt-4-turbo", dataset="mmlu", end=2), ["Wrong 0.999", "Wrong 0.6"])
    changed = load_published(small, cache_dir=cache)
    assert len(list(cache.iterdir())) == 4
    assert changed[changed.model == "gpt-4-turbo"].correct.sum() == 0
    assert len(pub.grade_disagreements(small, cache_dir=cache)) == 1


def test_source_from_environment(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MSP_PUBLISHED_DIR", str(small))
    assert pub.published_dir() == small
    assert len(load_published(cache_dir=tmp_path / "c")) == 7


TABLE_TEX = "\\begin{tabular}{lc}\n\\toprule\nLLM & Expected calibration error \\\\ \n"


def make_figs(tmp_path: Path) -> Path:
    """A figs/ folder as in the authors' repository: printed tables (.tex) next to figures (.pdf)."""
    figs = tmp_path / "repository" / pub.FIGS
    figs.mkdir(parents=True)
    (figs / "calibration_table_quantile.tex").write_text(TABLE_TEX)
    (figs / "prompts.tex").write_text("\\begin{figure}\n")
    (figs / "frac-correct_vs_msp_quantile.pdf").write_bytes(b"%PDF-1.4 not extracted")
    return figs


def make_archive(small: Path, tmp_path: Path, figs: Path | None = None) -> Path:
    """A tarball shaped like GitHub's archive of the authors' repository (``figs``: its figs/ folder)."""
    archive = tmp_path / "archive.tar.gz"
    prefix = f"llm-calibration-and-correctness-prediction-{pub.RESULTS_COMMIT}"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(small / "main_results", f"{prefix}/main_results")
        tar.add(small / "one_shot_results", f"{prefix}/one_shot_results")
        if figs is not None:
            tar.add(figs, f"{prefix}/figs")
        readme = tmp_path / "README.md"
        readme.write_text("not extracted")
        tar.add(readme, f"{prefix}/README.md")
    return archive


def tables_digest(figs: Path) -> str:
    """The digest download_published checks for a figs/ folder: its *.tex files only."""
    return pub.content_digest(figs.parent, (pub.FIGS,), pub.FIGS_PATTERN)


def test_download_from_file_url(small, tmp_path):
    figs = make_figs(tmp_path)
    archive = make_archive(small, tmp_path, figs)
    digest = pub.content_digest(small)
    dest = pub.download_published(tmp_path / "data" / "published", url=archive.as_uri(), digest=digest,
                                  figs_digest=tables_digest(figs))
    assert sorted(p.name for p in dest.iterdir()) == ["figs", "main_results", "one_shot_results"]
    # the printed tables are kept byte for byte, the figures (PDF) are not
    assert sorted(p.name for p in (dest / "figs").iterdir()) == ["calibration_table_quantile.tex", "prompts.tex"]
    assert (dest / "figs" / "calibration_table_quantile.tex").read_text() == TABLE_TEX
    assert pub.content_digest(dest) == digest  # the results' digest does not cover figs/
    assert pub.content_digest(dest, (pub.FIGS,), pub.FIGS_PATTERN) == tables_digest(figs)
    pd.testing.assert_frame_equal(parse_published(dest)[0], parse_published(small)[0])


def test_download_rejects_wrong_digest(small, tmp_path):
    figs = make_figs(tmp_path)
    archive = make_archive(small, tmp_path, figs)
    dest = tmp_path / "data" / "published"
    with pytest.raises(PublishedFormatError, match="does not match the pinned"):
        pub.download_published(dest, url=archive.as_uri(), digest="0" * 64, figs_digest=tables_digest(figs))
    assert not dest.exists()
    assert list((tmp_path / "data").iterdir()) == []  # no half-written folder left behind


def test_download_rejects_changed_tables(small, tmp_path):
    figs = make_figs(tmp_path)
    digest = tables_digest(figs)
    (figs / "calibration_table_quantile.tex").write_text(TABLE_TEX + "Falcon 7B & 0.09\\\\\n")
    archive = make_archive(small, tmp_path, figs)
    dest = tmp_path / "data" / "published"
    with pytest.raises(PublishedFormatError, match=r"figs/\*\.tex .* does not match the pinned " + digest):
        pub.download_published(dest, url=archive.as_uri(), digest=pub.content_digest(small), figs_digest=digest)
    assert list((tmp_path / "data").iterdir()) == []


def test_download_rejects_an_archive_without_tables(small, tmp_path):
    archive = make_archive(small, tmp_path)
    with pytest.raises(PublishedFormatError, match=r"archive has no figs/ folder with \*\.tex files"):
        pub.download_published(tmp_path / "data" / "published", url=archive.as_uri(), digest=None,
                               figs_digest=None)


def test_download_over_http_when_no_local_copy(small, tmp_path, monkeypatch):
    figs = make_figs(tmp_path)
    archive = make_archive(small, tmp_path, figs)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{archive.name}"
        monkeypatch.delenv("MSP_PUBLISHED_DIR", raising=False)
        monkeypatch.setenv("MSP_DATA_DIR", str(tmp_path / "data"))
        # the pinned archive is served from here (with the small files' digests)
        monkeypatch.setattr(pub, "download_published",
                            partial(pub.download_published, url=url, digest=pub.content_digest(small),
                                    figs_digest=tables_digest(figs)))
        answers = load_published()
    finally:
        server.shutdown()
    assert len(answers) == 7
    assert (tmp_path / "data" / "published" / "main_results").is_dir()
    local = tmp_path / "data" / "published"
    assert pub.content_digest(local, (pub.FIGS,), pub.FIGS_PATTERN) == tables_digest(figs)


# --- the real data ---------------------------------------------------------------------------

def test_real_files_and_line_counts(published_dir):
    files = pub.list_result_files(published_dir, shots=0)
    assert len(files) == 2288
    assert sum(f.end - f.start for f in files) == 1_113_164
    assert len(pub.list_result_files(published_dir, shots=1)) == 1625


def test_command_line_summarises_the_real_results(published_dir):
    env = {**os.environ, "MSP_PUBLISHED_DIR": str(published_dir)}
    run = subprocess.run([sys.executable, "-m", "helpers.data.published"], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    zero = next(line for line in run.stdout.splitlines() if line.startswith(f"{published_dir} shots=0:"))
    assert zero.startswith(f"{published_dir} shots=0: 599,396 answers of 14 models (")
    assert set(zero.split("(")[1].rstrip(")").split(", ")) == {"357,681 correct", "240,180 wrong",
                                                               "1,535 unparseable"}
    assert any(line.startswith(f"{published_dir} shots=1: ") for line in run.stdout.splitlines())
    assert "6 answers whose norm and raw files disagree on the grade (norm grade kept):" in run.stdout


def test_real_digest_is_the_pinned_commit(published_dir):
    assert pub.content_digest(published_dir) == pub.RESULTS_DIGEST


def test_real_printed_tables_digest_is_the_pinned_commit(published_dir):
    assert len(list((published_dir / pub.FIGS).glob(pub.FIGS_PATTERN))) == 24
    assert pub.content_digest(published_dir, (pub.FIGS,), pub.FIGS_PATTERN) == pub.FIGS_DIGEST


def test_real_counts_per_cell(published):
    counts = published.groupby(["model", "dataset", "phrasing"], observed=True).size()
    assert len(counts) == 14 * 5 * 2
    expected = {"arc": 2590, "hellaswag": 6000, "mmlu": 6000, "truthfulqa": 817, "winogrande": 6000}
    for (model, dataset, phrasing), n in counts.items():
        assert n == expected[dataset], (model, dataset, phrasing)
    assert len(published) == 599_396


def test_real_grades_and_signals(published):
    assert published.grade.value_counts().to_dict() == {"correct": 357_681, "wrong": 240_180, "unparseable": 1_535}
    unparseable = published[published.grade == "unparseable"]
    assert (unparseable.msp == 0).all() and not unparseable.correct.any()
    gpt = published.model.isin(["gpt-3.5-turbo", "gpt-4-turbo"])
    assert published.loc[gpt, "max_logit"].isna().all()
    assert published.loc[~gpt, "max_logit"].notna().all()
    assert published.msp.between(0, 1).all()
    # METHODS §6: 27.3% of Llama 3 70B answers have MSP exactly 1.0 in float32
    share = (published.loc[published.model == "Llama3-70b", "msp"] == 1.0).mean()
    assert round(100 * share, 1) == 27.3


def test_real_falcon_disagreements(published_dir, published):
    report = pub.grade_disagreements(published_dir)
    assert len(report) == 6
    assert set(report.model) == {"Falcon-7b"} and set(report.phrasing) == {"first"}
    ranges = sorted(zip(report.dataset, report.norm_file.str.extract(r"-q(\d+)to")[0].astype(int)))
    assert ranges == [("arc", 0), ("arc", 1000), ("hellaswag", 500), ("hellaswag", 1000),
                      ("mmlu", 500), ("winogrande", 2500)]
    for r in report.itertuples():
        row = published[(published.model == r.model) & (published.dataset == r.dataset)
                        & (published.phrasing == r.phrasing) & (published.qid == r.qid)]
        assert row.grade.iloc[0] == r.norm_grade != r.raw_grade
