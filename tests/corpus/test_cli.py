"""The command line against broken and hostile input: bad arguments, bad paths, hostile copy,
broken template files. Each case names its exit status and the words of its answer; none
prints a traceback, and none that exits 2 starts the local cloud (nothing uploaded, nothing
spent)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from placard.domain.templates import default_catalogue
from placard_local import cloud
from placard_local.cli import main

GOOD_ROW = "launch-poster,Trail shoe,Run Past Sunrise,Pre-order\n"
HEADER = "template,product,headline,cta\n"
POSTER = ["--var", "product=Trail shoe", "--var", "headline=Run", "--var", "cta=Buy"]


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, "white").save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    """`files`: name -> bytes written under tmp_path first; `argv` may use {tmp}."""

    argv: tuple[str, ...]
    status: int
    words: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    env: tuple[tuple[str, str], ...] = ()


SHEET = (("sheet.csv", (HEADER + GOOD_ROW).encode()),)
PHOTO = (("photo.png", png((640, 480))),)
EDIT = ("edit", "{tmp}/photo.png", "--template", "price-tag-edit", "--var", "price=$1.99")

CASES = {
    # placard run: the sheet
    "run-missing-sheet": Case(("run", "{tmp}/nope.csv"), 2, ("nope.csv", "no such file")),
    "run-sheet-is-a-folder": Case(("run", "{tmp}"), 2, ("is a folder, not a sheet",)),
    "run-empty-file": Case(
        ("run", "{tmp}/empty.csv"), 2, ("empty.csv", "empty"), (("empty.csv", b""),)
    ),
    "run-header-only": Case(
        ("run", "{tmp}/plan.csv"),
        2,
        ("plan.csv", "no rows below the header row"),
        (("plan.csv", HEADER.encode()),),
    ),
    "run-a-pdf": Case(
        ("run", "{tmp}/brief.pdf"),
        2,
        ("brief.pdf", "CSV", ".xlsx"),
        (("brief.pdf", b"%PDF-1.7\n"),),
    ),
    "run-file-name-with-no-campaign-in-it": Case(
        ("run", "{tmp}/日本.csv"),
        2,
        ("日本.csv", "--campaign NAME"),
        (("日本.csv", (HEADER + GOOD_ROW).encode()),),
    ),
    # placard run: --out
    "run-out-is-a-file": Case(
        ("run", "{tmp}/sheet.csv", "--out", "{tmp}/sheet.csv"),
        2,
        ("--out", "is a file; name a folder"),
        SHEET,
    ),
    "run-out-below-a-file": Case(
        ("run", "{tmp}/sheet.csv", "--out", "{tmp}/sheet.csv/out"),
        2,
        ("--out", "cannot write there"),
        SHEET,
    ),
    "run-out-holds-another-runs-results": Case(
        ("run", "{tmp}/sheet.csv", "--out", "{tmp}/old"),
        2,
        ("already holds the results of spring/other.csv", "choose another folder"),
        (*SHEET, ("old/.placard-run", b"spring/other.csv\n"), ("old/results.csv", b"row\n")),
    ),
    "run-out-holds-files-placard-would-replace": Case(
        ("run", "{tmp}/sheet.csv", "--out", "{tmp}/photos"),
        2,
        ("already holds images", "would replace"),
        (*SHEET, ("photos/images/holiday.jpg", b"\xff\xd8")),
    ),
    # placard run: options
    "run-negative-budget": Case(
        ("run", "{tmp}/sheet.csv", "--budget", "-5"),
        2,
        ("--budget", "not an amount of USD"),
        SHEET,
    ),
    "run-nan-budget": Case(
        ("run", "{tmp}/sheet.csv", "--budget", "NaN"), 2, ("not an amount of USD",), SHEET
    ),
    "run-campaign-with-a-slash": Case(
        ("run", "{tmp}/sheet.csv", "--campaign", "../etc"),
        2,
        ("--campaign '../etc'", "letters, digits"),
        SHEET,
    ),
    "run-unknown-provider-in-the-environment": Case(
        ("run", "{tmp}/sheet.csv"),
        2,
        ("PLACARD_PROVIDER 'dall-e'", "draft, openai"),
        SHEET,
        (("PLACARD_PROVIDER", "dall-e"),),
    ),
    "run-paid-provider-without-a-key": Case(
        ("run", "{tmp}/sheet.csv", "--provider", "openai"),
        2,
        ("needs OPENAI_API_KEY",),
        SHEET,
        (("OPENAI_API_KEY", ""),),
    ),
    "run-unknown-option": Case(("run", "{tmp}/sheet.csv", "--colour", "red"), 2, ("usage",)),
    "unknown-command": Case(("paint",), 2, ("invalid choice: 'paint'",)),
    # placard estimate
    "estimate-header-only": Case(
        ("estimate", "{tmp}/plan.csv"),
        2,
        ("no rows below the header row",),
        (("plan.csv", HEADER.encode()),),
    ),
    "estimate-bad-campaign": Case(
        ("estimate", "{tmp}/sheet.csv", "--campaign", " "), 2, ("--campaign ' '",), SHEET
    ),
    # placard render
    "render-unknown-template": Case(("render", "flyer"), 2, ("no template named 'flyer'",)),
    "render-colour-name-for-a-hex-colour": Case(
        ("render", "launch-poster", *POSTER, "--var", "brand_color=red"),
        2,
        ("brand_color: 'red' is not a colour as #RRGGBB, e.g. #FF5A1F",),
    ),
    "render-misspelt-variable": Case(
        ("render", "launch-poster", *POSTER, "--var", "tag_line=Go"),
        2,
        ("--var tag_line", "no variable 'tag_line'", "tagline"),
    ),
    "render-var-without-equals": Case(
        ("render", "launch-poster", "--var", "headline"), 2, ("expected KEY=VALUE",)
    ),
    "render-required-copy-of-zero-width-spaces": Case(
        ("render", "launch-poster", *POSTER, "--var", "headline=\u200b\u200b"),
        2,
        ("headline: is required but has no visible characters",),
    ),
    "render-too-long": Case(
        ("render", "launch-poster", *POSTER, "--var", "cta=" + "x" * 25),
        2,
        ("cta: is 25 characters long; at most 24 fit",),
    ),
    "templates-unknown-name": Case(
        ("templates", "flyer"), 2, ("no template named 'flyer'", "the templates are banner-wide")
    ),
    # placard edit: checked on this machine before any upload
    "edit-missing-photo": Case(
        ("edit", "{tmp}/nope.png", "--box", "1,1,9,9", "--template", "price-tag-edit"),
        2,
        ("nope.png", "no such file"),
    ),
    "edit-empty-photo": Case(
        (*EDIT, "--box", "1,1,9,9"), 2, ("source_image", "empty"), (("photo.png", b""),)
    ),
    "edit-text-file-named-png": Case(
        (*EDIT, "--box", "1,1,9,9"), 2, ("source_image",), (("photo.png", b"not an image\n"),)
    ),
    "edit-box-outside-the-photo": Case(
        (*EDIT, "--box", "600,400,100,100"), 2, ("mask_box", "outside", "640x480"), PHOTO
    ),
    "edit-box-not-numbers": Case(
        (*EDIT, "--box", "left,top,9,9"), 2, ("mask_box", "four whole numbers"), PHOTO
    ),
    "edit-mask-of-other-proportions": Case(
        (*EDIT, "--mask", "{tmp}/mask.png"),
        2,
        ("mask", "100x100", "640x480"),
        (*PHOTO, ("mask.png", png((100, 100), "L"))),
    ),
    "edit-with-a-generate-template": Case(
        ("edit", "{tmp}/photo.png", "--box", "1,1,9,9", "--template", "banner-wide", *POSTER),
        2,
        ("banner-wide makes new images",),
        PHOTO,
    ),
    "edit-out-is-a-file": Case(
        (*EDIT, "--box", "1,1,9,9", "--out", "{tmp}/photo.png"), 2, ("is a file",), PHOTO
    ),
}


@pytest.fixture
def no_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local cloud (uploads, queues, provider calls) must not start for these cases."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local cloud was started: something could be spent")

    monkeypatch.setattr(cloud, "local_cloud", refuse)


def _run(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    for name, data in case.files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # a default --out lands here, never in the repo
    status = main([arg.replace("{tmp}", str(tmp_path)) for arg in case.argv])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


@pytest.mark.usefixtures("no_cloud")
@pytest.mark.parametrize(
    "name", sorted(CASES), ids=lambda name: f"{name}-exit-{CASES[name].status}"
)
def test_bad_input_gets_its_answer_and_nothing_runs(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the case's files and environment
    case = CASES[name]
    # When placard is run with its arguments
    status, output = _run(case, tmp_path, monkeypatch, capsys)
    # Then it exits with the case's status, saying the case's words, with no traceback
    assert status == case.status, output
    for words in case.words:
        assert words in output
    assert "Traceback" not in output


def test_an_estimate_of_a_sheet_named_with_spaces_and_accents_takes_a_campaign_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sheet whose file name has spaces and an accent
    sheet = tmp_path / "Summer Sale é.csv"
    sheet.write_text(HEADER + GOOD_ROW, encoding="utf-8")
    # When it is estimated
    status = main(["estimate", str(sheet)])
    # Then it is priced (no campaign-name error), and its file is named
    out = capsys.readouterr().out
    assert status == 0
    assert "Summer Sale é.csv: 1 rows, 1 to run, 0 rejected" in out


def test_render_keeps_control_characters_and_template_code_out_of_the_prompt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given copy with a terminal escape sequence, a NUL, a bidi override and Jinja code
    hostile = "Run\x1b]0;pwned\x07 \x00Past\u202e {{ ''.__class__ }}"
    # When the prompt is rendered
    status = main(
        ["render", "launch-poster", *POSTER[:2], "--var", f"headline={hostile}", *POSTER[4:]]
    )
    out = capsys.readouterr().out
    # Then it is printed as data: no control character, the code as written, not evaluated
    assert status == 0
    assert not any(ord(c) < 32 and c != "\n" for c in out)
    assert "\u202e" not in out
    assert "{{ ''.__class__ }}" in out and "<class" not in out


@pytest.fixture
def template_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Path]]:
    """A templates folder of one file, as PLACARD_TEMPLATES_DIR names it."""
    monkeypatch.setenv("PLACARD_TEMPLATES_DIR", str(tmp_path / "templates"))
    default_catalogue.cache_clear()

    def write(source: str) -> Path:
        path = tmp_path / "templates" / "ad" / "promo.j2"
        path.parent.mkdir(parents=True)
        path.write_text(source, encoding="utf-8")
        return path

    yield write
    default_catalogue.cache_clear()


FRONT = "---\nname: promo\nkind: ad\nvariables: {headline: {required: true}}\n"
BROKEN_TEMPLATES = {
    "no-front-matter": ("Say {{ headline }}\n", "expected YAML front matter"),
    "yaml-syntax-error": ("---\nname: [promo\n---\nhi\n", "not valid YAML"),
    "unknown-key": (FRONT + "colour: red\n---\nSay {{ headline }}\n", "unknown keys ['colour']"),
    "misspelt-rule": (
        "---\nname: promo\nkind: ad\nvariables: {headline: {requird: true}}\n---\n{{ headline }}\n",
        "variable headline: unknown keys ['requird']",
    ),
    "quotes-an-undeclared-variable": (
        FRONT + '---\nThe sign reads exactly "{{ offer }}".\n',
        "the body uses undeclared variables ['offer']",
    ),
    "reaches-for-a-class": (FRONT + "---\n{{ ''.__class__.__mro__ }}\n", "unsafe"),
    "calls-a-method-to-escape": (FRONT + "---\n{{ headline.__init__.__globals__ }}\n", "unsafe"),
    "broken-jinja": (FRONT + "---\n{% if headline %}open\n", "Unexpected end of template"),
}


@pytest.mark.parametrize(
    "name", sorted(BROKEN_TEMPLATES), ids=lambda name: f"template-{name}-exit-2"
)
def test_a_broken_template_file_is_named_when_the_catalogue_loads(
    name: str, template_dir: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a templates folder whose one file is broken in the case's way
    source, words = BROKEN_TEMPLATES[name]
    path = template_dir(source)
    # When the catalogue is listed
    status = main(["templates"])
    # Then placard exits 2 naming the file and what is wrong, with no traceback
    err = capsys.readouterr().err
    assert status == 2
    assert str(path) in err and words in err
    assert "Traceback" not in err


def test_an_estimate_prices_a_repeated_row_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a sheet whose second row repeats its first
    sheet = tmp_path / "twins.csv"
    sheet.write_text(HEADER + GOOD_ROW + GOOD_ROW, encoding="utf-8")
    # When it is estimated
    status = main(["estimate", str(sheet)])
    # Then one job is priced, and the repeat is said
    out = capsys.readouterr().out
    assert status == 0
    assert "2 rows, 1 to run, 0 rejected, 1 repeating an earlier row (priced once)" in out
    (total,) = [line.split() for line in out.splitlines() if line.startswith("total")]
    assert total[:2] == ["total", "1"]
