"""``--shard I/N``: a deterministic split of the missing questions by stable question id; two shard
processes at once plus a final run fill exactly the set an unsharded run does."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import score
from helpers.scoring import runner
from helpers.scoring.specs import ScoringError


def test_every_question_is_in_exactly_one_shard():
    ids = [f"mmlu/test/{k}" for k in range(500)]
    for n in (1, 2, 3, 7):
        members = [[q for q in ids if runner.in_shard(q, (i, n))] for i in range(1, n + 1)]
        assert sorted(q for m in members for q in m) == sorted(ids)
        assert all(len(m) > 500 / n * 0.7 for m in members)  # near 1/N each
    # by the id alone: the same answer in another order or process
    assert [runner.in_shard(q, (2, 3)) for q in ids[::-1]] == [runner.in_shard(q, (2, 3)) for q in ids][::-1]


@pytest.mark.parametrize("text, message", [("3/2", "between 1 and N"), ("0/2", "between 1 and N"),
                                           ("1-2", "expected I/N"), ("a/b", "expected I/N")])
def test_bad_shards_are_refused(text, message):
    with pytest.raises(ScoringError, match=message):
        runner.parse_shard(text)
    with pytest.raises(SystemExit, match="--shard"):
        score.parse_args(["--model", "x/y", "--shard", text])


def _argv(model_dir, datasets_dir, out, *extra):
    return [sys.executable, "-m", "helpers.score", "--model", str(model_dir), "--datasets", "arc,truthfulqa",
            "--phrasings", "first", "--limit", "14", "--device", "cpu", "--batch-size", "3",
            "--scores-dir", str(out), "--datasets-dir", str(datasets_dir), *extra]


def _rows(folder) -> pd.DataFrame:
    frames = [pd.read_parquet(p).assign(key=p.parent.name) for p in sorted(folder.glob("*/part-*.parquet"))]
    return pd.concat(frames, ignore_index=True)


def test_two_shards_at_once_then_a_final_run_fill_what_an_unsharded_run_does(tiny_model_dir, datasets_dir, tmp_path):
    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    procs = [subprocess.Popen(_argv(tiny_model_dir, datasets_dir, sharded, "--shard", f"{i}/2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err
        assert "shard" in out and "done" in out
    after_shards = _rows(sharded)
    # the two shards split every key's questions between them, without overlap
    assert not after_shards.duplicated(["key", "qid"]).any()
    parts = sorted(p.name for p in sharded.glob("*/part-*.parquet"))
    final = subprocess.run(_argv(tiny_model_dir, datasets_dir, sharded), capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr
    assert sorted(p.name for p in sharded.glob("*/part-*.parquet")) == parts  # nothing was missing
    unsharded = subprocess.run(_argv(tiny_model_dir, datasets_dir, whole), capture_output=True, text=True, timeout=900)
    assert unsharded.returncode == 0, unsharded.stderr
    a = after_shards.sort_values(["key", "qid"], ignore_index=True)
    b = _rows(whole).sort_values(["key", "qid"], ignore_index=True)
    assert a[["key", "qid"]].equals(b[["key", "qid"]])
    assert len(set(a.key)) == 2 and a.groupby("key").size().tolist() == [14, 14]
    np.testing.assert_allclose(a.msp.to_numpy(), b.msp.to_numpy(), atol=1e-5)
    assert (a.grade == b.grade).all()
