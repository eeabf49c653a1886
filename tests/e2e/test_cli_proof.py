"""`placard proof IMAGE --template NAME --var KEY=VALUE`: 0 on pass, 1 on fail, 2 on bad args."""

from __future__ import annotations

from pathlib import Path

import pytest

from placard.providers.draft_render import render_generate
from placard_local.cli import main

COPY = [("store_name", "The Green Grocer"), ("message", "Now open on Sundays")]
ARGS = ["--template", "storefront-sign", "--var", "store_name=The Green Grocer"]


@pytest.fixture(scope="module")
def draft(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A draft of storefront-sign, its copy drawn as the row gave it."""
    path = tmp_path_factory.mktemp("proof") / "sign.png"
    path.write_bytes(render_generate(1024, 1024, "storefront-sign", COPY, seed="cli-proof"))
    return path


def test_a_draft_passes_its_own_proof(draft: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["proof", str(draft), *ARGS, "--var", "message=Now open on Sundays"])
    said = capsys.readouterr().out
    assert status == 0, said
    assert "store_name: pass, read 'The Green Grocer'" in said and "proof: pass" in said


def test_a_draft_with_other_copy_fails_naming_the_field(
    draft: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["proof", str(draft), *ARGS, "--var", "message=Now open on Mondays"])
    said = capsys.readouterr().out
    assert status == 1
    assert "message: fail" in said and "store_name: pass" in said and "proof: fail" in said


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--template", "storefront-sign", "--var", "colour=red"], "--var colour"),
        (["--template", "nothing-such"], "no template named"),
        (["--template", "storefront-sign"], "store_name: is required"),
        (["--var", "message=Hi"], "--template"),
    ],
)
def test_bad_arguments_exit_2_and_say_why(
    draft: Path, args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["proof", str(draft), *args]) == 2
    assert named in capsys.readouterr().err


def test_an_image_that_is_not_there_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proof", "missing.png", *ARGS]) == 2
    assert "missing.png: no such file" in capsys.readouterr().err
