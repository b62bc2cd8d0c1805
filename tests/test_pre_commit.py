"""The pre-commit hooks run the very commands of `make lint`, read from the Makefile."""

from __future__ import annotations

import re
import shlex

import yaml

from tests.support import REPO_ROOT

VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=\s*(.*?)\s*$")
REFERENCE = re.compile(r"\$\((\w+)\)")


def _makefile_variables(lines: list[str]) -> dict[str, str]:
    return {m[1]: m[2] for m in map(VARIABLE.match, lines) if m}


def _expand(text: str, variables: dict[str, str]) -> str:
    while REFERENCE.search(text):
        text = REFERENCE.sub(lambda m: variables[m[1]], text)
    return text


def _lint_commands() -> list[str]:
    """The commands of the Makefile's ``lint`` recipe, variables expanded."""
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    variables = _makefile_variables(lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("lint:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(" ".join(shlex.split(_expand(line.strip(), variables))))
    return recipe


def _hooks() -> list[dict]:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def _command(hook: dict) -> str:
    return " ".join([*shlex.split(hook["entry"]), *hook.get("args", [])])


def test_the_lint_target_runs_ruff_check_ruff_format_and_sqlfluff_lint():
    tools = {" ".join(command.split()[:2]) for command in _lint_commands()}
    assert tools == {".venv/bin/ruff check", ".venv/bin/ruff format", ".venv/bin/sqlfluff lint"}


def test_pre_commit_hooks_run_the_lint_targets_commands_on_the_same_paths():
    assert sorted(_command(hook) for hook in _hooks()) == sorted(_lint_commands())


def test_pre_commit_hooks_use_the_local_virtualenv_and_need_no_network():
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in _hooks():
        assert hook["language"] == "system"
        # The paths are in the command, as in the Makefile; file names would add to them.
        assert hook["pass_filenames"] is False
