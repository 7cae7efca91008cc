"""Every subcommand's --help ends with worked examples that parse, and every option says what it does."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from facekit.cli import build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, command in sub.choices.items():
        found[name] = command
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update({f"{name} {kind}": p for kind, p in action.choices.items()})
    return found


def _examples(command: argparse.ArgumentParser) -> list[list[str]]:
    """The example command lines of an epilog: continuations joined, comments (after two spaces) cut, env cut."""
    text = re.sub(r"\\\n\s*", "", command.epilog or "")
    lines = [line.strip() for line in text.splitlines()]
    return [shlex.split(line[line.index("facekit ") :].split("  ")[0])[1:] for line in lines if "facekit " in line]


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_ends_its_help_with_examples_that_parse(name):
    command = _commands()[name]
    assert (command.epilog or "").startswith("examples:"), f"facekit {name} --help has no examples"
    examples = _examples(command)
    assert examples, f"facekit {name}: no example command line"
    mine = [argv for argv in examples if " ".join(argv).startswith(name.split()[0])]
    assert mine, f"facekit {name}: no example of this command"
    for argv in examples:
        build_parser().parse_args(argv)  # an example that does not parse exits here (SystemExit)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_has_a_help_text(name):
    missing = [a.dest for a in _commands()[name]._actions if not a.help]
    assert not missing, f"facekit {name}: options without help: {missing}"
