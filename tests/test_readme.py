"""What a newcomer follows in the README and the docs exists: every link, every command, every extra."""
from __future__ import annotations

import configparser
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from gemini_np.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "tutorials" / "README.md", ROOT / "tutorials" / "TEACHING.md",
        *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def code_lines(text: str):
    """The lines of every fenced code block (``` ... ```)."""
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            yield line


def anchors(markdown: str) -> set:
    """GitHub's anchors of the headings: lower case, spaces to dashes, punctuation dropped."""
    heads = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_something_that_exists(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name} links to {target}, which does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file.read_text(encoding="utf-8")), f"{doc.name}: no heading for #{anchor}"


def readme_commands():
    """Every `python -m gemini_np ...` command line in the README's code blocks."""
    commands = []
    for line in code_lines((ROOT / "README.md").read_text(encoding="utf-8")):
        for part in re.split(r"&&|\|", line.split("#")[0]):
            if part.strip().startswith("python -m gemini_np "):
                commands.append(part.strip())
    return commands


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_is_one_the_cli_accepts(line):
    argv = shlex.split(line)[3:]
    if "--help" in argv:
        with pytest.raises(SystemExit) as done:  # argparse prints the help and exits 0
            build_parser().parse_known_args(argv)
        assert done.value.code == 0
        return
    args, extra = build_parser().parse_known_args(argv)  # parses only: nothing runs
    assert not extra and callable(args.run), line


def test_the_readme_shows_every_subcommand():
    shown = {shlex.split(line)[3] for line in readme_commands()}
    assert shown >= {"demo", "train", "evaluate", "gradcheck", "explore"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_script_and_module_the_docs_run_exists(doc):
    text = doc.read_text(encoding="utf-8")
    for script in re.findall(r"python3? ((?:tools|benchmarks)/\w+\.py)", text):
        assert (ROOT / script).exists(), f"{doc.name} runs {script}, which does not exist"
    for module in re.findall(r"python -m (gemini_np(?:\.\w+)+)", text):
        assert importlib.util.find_spec(module) is not None, f"{doc.name} runs python -m {module}"


def test_every_extra_the_docs_install_is_declared():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = set(config["options.extras_require"])
    for doc in DOCS:
        for extra in re.findall(r'\.\[(\w+)\]', doc.read_text(encoding="utf-8")):
            assert extra in declared, f"{doc.name} installs .[{extra}], which setup.cfg does not declare"
