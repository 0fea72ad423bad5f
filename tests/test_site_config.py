"""What publishing the book rests on, checked without a built book: the GitHub workflows (linted by
jactionlint, the maintained fork of actionlint), the citation file (against the CFF 1.2.0 schema),
the site configuration, the launch-branch builder and the dataset list the workflows download."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
# The official CFF 1.2.0 schema (https://citation-file-format.github.io/1.2.0/schema.json, from the
# citation-file-format repository at tag 1.2.0, CC BY 4.0), kept here so that the check runs offline.
CFF_SCHEMA = REPO / "tests" / "data" / "citation-file-format-1.2.0.schema.json"


def actionlint(cwd: Path, *files: str) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "jactionlint"
    if not binary.exists():
        pytest.fail(f"{binary} is missing: it comes with the pinned jactionlint of pyproject.toml "
                    f"(`make test` installs it)")
    # Offline and without the optional shellcheck/pyflakes, so that the result does not depend on
    # what else the machine has.
    return subprocess.run([str(binary), "--no-online", "--no-color", "--shellcheck=", "--pyflakes=",
                           "--oneline", *files], cwd=cwd, capture_output=True, text=True)


def test_the_workflows_pass_actionlint():
    names = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
    assert names == ["deploy.yml", "pull-request.yml"]
    run = actionlint(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == ""


def _workflow_copy(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # the linter looks for a repository
    return folder / name


BROKEN = """\
name: broken
on:
  pull_request:
    branch: [main]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/setup-python@v6
        with:
          python_version: "3.11"
      - run: echo "${{ github.event.pull_request.titel }}"
"""


def test_actionlint_reports_a_broken_workflow(tmp_path):
    _workflow_copy(tmp_path, "broken.yml", BROKEN)
    run = actionlint(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert 'unexpected key "branch" for "pull_request" section' in out, out
    assert 'input "python_version" is not defined' in out, out
    assert '"titel" is not defined' in out, out


@pytest.mark.parametrize("typo", [
    ("cache-dependency-path: pyproject.toml", "cache-dependency-paths: pyproject.toml"),
    ("steps.published.outputs.commit", "steps.publishd.outputs.commit"),
    ("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.4"),
    ("        shell: bash  #", "        #"),
])
def test_a_typo_in_our_own_workflow_is_caught(tmp_path, typo):
    """The lint is not vacuous: each of these slips in pull-request.yml fails it."""
    before, after = typo
    text = (WORKFLOWS / "pull-request.yml").read_text()
    assert before in text
    _workflow_copy(tmp_path, "pull-request.yml", text.replace(before, after))
    run = actionlint(tmp_path)
    assert run.returncode == 1 and run.stdout.strip(), (typo, run.stdout, run.stderr)


def test_workflows_build_deploy_and_cache_as_intended():
    pr = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())
    deploy = yaml.safe_load((WORKFLOWS / "deploy.yml").read_text())
    # PyYAML reads the key `on` as True
    assert set(pr[True]) >= {"pull_request"} and deploy[True]["push"]["branches"] == ["main"]
    pr_steps = [s for job in pr["jobs"].values() for s in job["steps"]]
    runs = "\n".join(s.get("run", "") for s in pr_steps)
    assert "make test" in runs and "make book" in runs and "make check-site" in runs
    uploads = {s["with"]["name"]: s for s in pr_steps if "upload-artifact" in s.get("uses", "")}
    assert uploads["book-html"]["with"]["path"] == "_build/html"
    assert uploads["execution-reports"]["if"] == "failure()"
    assert "book/executed" in uploads["execution-reports"]["with"]["path"]
    caches = {s["with"]["key"] for s in pr_steps if "actions/cache@" in s.get("uses", "")}
    assert "published-${{ steps.published.outputs.commit }}" in caches
    assert any("hashFiles('notebooks/**', 'src/helpers/**'" in key for key in caches)
    setup = next(s for s in pr_steps if "setup-python" in s.get("uses", ""))
    assert setup["with"]["cache"] == "pip" and setup["with"]["cache-dependency-path"] == "pyproject.toml"
    # the step that reads the pinned commit finds it in the source as it is
    commit_step = next(s for s in pr_steps if s.get("id") == "published")
    script = commit_step["run"].split("$(", 1)[1].rsplit(")", 1)[0]
    found = subprocess.run(script, shell=True, cwd=REPO, capture_output=True, text=True).stdout.strip()
    from helpers.data.published import RESULTS_COMMIT

    assert found == RESULTS_COMMIT
    # Pages: the documented pair of actions, the permissions they need, one deployment at a time
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert deploy["permissions"] == {"contents": "read"}
    pages = deploy["jobs"]["pages"]
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert any("actions/deploy-pages@" in s["uses"] for s in pages["steps"])
    build_steps = deploy["jobs"]["build"]["steps"]
    pages_upload = next(s for s in build_steps if "upload-pages-artifact" in s.get("uses", ""))
    assert pages_upload["with"]["path"] == "_build/html"
    assert deploy["jobs"]["notebooks"]["permissions"] == {"contents": "write"}


def test_citation_file_is_valid_cff_1_2_0():
    schema = json.loads(CFF_SCHEMA.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    # CFF dates and the like are strings; YAML would read an unquoted date as a date object.
    jsonschema.validate(json.loads(json.dumps(citation, default=str)), schema,
                        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert citation["cff-version"] == "1.2.0"
    assert citation["repository-code"] == "https://github.com/msp-book/msp-book"
    (paper,) = citation["references"]
    assert [(a["given-names"], a["family-names"]) for a in paper["authors"]] == [
        ("Benjamin", "Plaut"), ("Nguyen X.", "Khanh"), ("Tu", "Trinh")]
    assert paper["doi"] == "10.48550/arXiv.2402.13213" and "2402.13213" in paper["url"]
    assert paper["title"].startswith("Probabilities of Chat LLMs Are Miscalibrated")


def test_a_broken_citation_file_is_rejected():
    schema = json.loads(CFF_SCHEMA.read_text())
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    for broken in ({k: v for k, v in citation.items() if k != "authors"},
                   dict(citation, **{"cff-version": "1.2"}),
                   dict(citation, references=[dict(citation["references"][0], doi="arXiv.2402.13213")])):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(json.dumps(broken, default=str)), schema,
                                format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_site_configuration():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["repository"] == {"url": "https://github.com/msp-book/msp-book", "branch": "notebooks",
                                    "path_to_book": "."}
    assert config["html"]["baseurl"] == "https://msp-book.github.io/msp-book/"
    assert config["html"]["use_repository_button"] and config["html"]["use_issues_button"]
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    sphinx = config["sphinx"]
    extensions = sphinx["config"]["extensions"]
    # the fixes of the page errors and navigation: no sphinx_thebe (its script came twice), no
    # search field in the top bar, no empty index page
    assert "sphinx_thebe" not in extensions and "sphinxcontrib.bibtex" in extensions
    assert "extra_extensions" not in sphinx, "list new extensions in sphinx.config.extensions"
    assert sphinx["config"]["html_theme_options"]["navbar_persistent"] == []
    assert sphinx["config"]["html_use_index"] is False
    assert (REPO / config["html"]["favicon"]).is_file()
    # Binder: the environment at the top level installs the repository, postBuild fetches the data
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    post_build = REPO / "postBuild"
    assert os.access(post_build, os.X_OK) and "python -m helpers.data.published" in post_build.read_text()


CHAPTER = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", outputs=[
    nbformat.v4.new_output("stream", name="stdout", text="1\n")])])


def test_launch_branch_adds_the_executed_chapters_to_the_tree(tmp_path):
    """.github/launch_notebooks.py: HEAD's tree plus book/executed/<chapter>.ipynb with the Colab
    set-up cell in front, as a commit that moves no branch."""
    repo = tmp_path / "repo"
    (repo / "book" / "executed").mkdir(parents=True)
    (repo / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/one\n")
    (repo / "_config.yml").write_text((REPO / "_config.yml").read_text())
    (repo / "book" / "intro.md").write_text("# Intro\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(git + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "sources"], check=True)
    nbformat.write(CHAPTER, repo / "book" / "executed" / "one.ipynb")
    before = subprocess.run(git + ["show-ref"], capture_output=True, text=True).stdout
    run = subprocess.run([sys.executable, str(REPO / ".github" / "launch_notebooks.py"), "--root", str(repo)],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    assert run.returncode == 0, run.stderr
    commit = run.stdout.strip()
    files = subprocess.run(git + ["ls-tree", "-r", "--name-only", commit], capture_output=True, text=True,
                           check=True).stdout.split()
    assert sorted(files) == ["_config.yml", "_toc.yml", "book/executed/one.ipynb", "book/intro.md"]
    shown = subprocess.run(git + ["show", f"{commit}:book/executed/one.ipynb"], capture_output=True,
                           text=True, check=True).stdout
    nb = nbformat.reads(shown, as_version=4)
    assert nb.cells[0].metadata["tags"] == ["launch-setup"]
    assert "git\", \"clone\"" in nb.cells[0].source and "https://github.com/msp-book/msp-book" in nb.cells[0].source
    assert nb.cells[1].outputs[0]["text"] == "1\n"  # the executed outputs are kept
    assert subprocess.run(git + ["show-ref"], capture_output=True, text=True).stdout == before
    # a chapter that was not executed is an error that says what to do
    (repo / "book" / "executed" / "one.ipynb").unlink()
    run = subprocess.run([sys.executable, str(REPO / ".github" / "launch_notebooks.py"), "--root", str(repo)],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "make book" in run.stderr


def test_dataset_list_matches_the_local_copy(local_datasets_dir):
    datasets_dir = local_datasets_dir
    """The files .github/fetch_datasets.py downloads for the workflows are the ones the tests read."""
    sys.path.insert(0, str(REPO / ".github"))
    try:
        import fetch_datasets
    finally:
        sys.path.pop(0)
    listed = {path: digest for digest, path, _ in fetch_datasets.entries()}
    local = {p.relative_to(datasets_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in datasets_dir.rglob("*") if p.is_file() and p.name != "README.md"}
    assert listed == local
    assert fetch_datasets.fetch(datasets_dir) == 0  # everything is there already: nothing to download


def test_the_book_leaves_out_every_environment_the_makefile_builds():
    """Sphinx would otherwise read the Markdown files inside the environments' site-packages
    (``make vllm-test`` builds .venv-vllm before ``make book`` in CI)."""
    import fnmatch
    import re

    config = yaml.safe_load((REPO / "_config.yml").read_text())
    environments = re.findall(r"^\w*VENV\s*:=\s*(\S+)$", (REPO / "Makefile").read_text(), flags=re.M)
    assert environments == [".venv", ".venv-vllm"]
    for folder in environments:
        assert any(fnmatch.fnmatch(folder, pattern) for pattern in config["exclude_patterns"]), folder
