"""Release metadata: the package version, the installed distribution, the changelog and the README commands."""

from __future__ import annotations

import re
import shlex
from importlib import metadata
from pathlib import Path

import pytest

import maskrcnn_custom

ROOT = Path(__file__).resolve().parents[1]
# Keep a Changelog 1.1.0: the only section kinds a release may have.
CHANGE_KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def _installed_version() -> str:
    try:
        return metadata.version("maskrcnn-custom")
    except metadata.PackageNotFoundError:
        pytest.skip("maskrcnn-custom is not installed (run `python -m pip install -e .[dev]`)")


def test_version_is_pep440_and_matches_the_installed_distribution():
    version = maskrcnn_custom.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", version), version
    assert _installed_version() == version


def test_changelog_follows_keep_a_changelog_and_covers_the_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    releases = re.findall(r"^## \[([^\]]+)\](.*)$", text, flags=re.M)
    assert releases, "no '## [x.y.z] - date' or '## [Unreleased]' section"
    names = [name for name, _ in releases]
    assert "Unreleased" in names or maskrcnn_custom.__version__ in names, names
    for name, rest in releases:
        if name != "Unreleased":
            assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", rest), f"release {name} needs ' - YYYY-MM-DD'"
    kinds = re.findall(r"^### (.+)$", text, flags=re.M)
    assert kinds and set(kinds) <= CHANGE_KINDS, sorted(set(kinds) - CHANGE_KINDS)
    # Every section has entries.
    for block in re.split(r"^### .+$", text, flags=re.M)[1:]:
        body = re.split(r"^## ", block, flags=re.M)[0]
        assert re.search(r"^- \S", body, flags=re.M), body[:200]


def test_readme_test_command_is_the_one_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    test_cmds = [b.strip() for b in blocks if "pytest" in b]
    assert len(test_cmds) == 1, test_cmds
    install, run = (shlex.split(part) for part in test_cmds[0].split("&&"))
    assert run == ["python", "-m", "pytest"]
    assert "python -m pytest\n" in ci
    # CI installs the README's extras (plus the docs extra for the docs build).
    assert install[:5] == ["python", "-m", "pip", "install", "-e"]
    extras = set(re.fullmatch(r"\.\[(.+)\]", install[-1]).group(1).split(","))
    ci_extras = set(re.search(r'pip install --quiet -e "\.\[(.+?)\]"', ci).group(1).split(","))
    assert extras <= ci_extras and "dev" in extras


def test_readme_main_job_command_names_a_real_cli_command():
    from maskrcnn_custom.cli import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    demo = [b.strip() for b in blocks if "maskrcnn-custom demo" in b]
    assert demo, "README lacks the main-job command"
    argv = shlex.split(demo[0].split("&&")[-1])
    assert argv[0] == "maskrcnn-custom"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "demo"


def test_cli_help_shows_useful_defaults_only():
    import contextlib
    import io
    import re

    from maskrcnn_custom.cli import COMMANDS, build_parser

    parser = build_parser()
    for command in COMMANDS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(out.getvalue().split())
        assert "(default: None)" not in text, command
        # a default stated in the help's own words is not repeated by argparse
        assert not re.search(r"default[^()]{0,60}\)\s*\(default:", text), command
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        parser.parse_args(["predict", "--help"])
    assert "(default: 0.5)" in " ".join(out.getvalue().split())  # real defaults are still shown
