from __future__ import annotations

import pytest

from placard.domain.errors import InvalidInput, UnknownTemplate
from placard.domain.jobs import Mode, Size
from placard.domain.proofs import DEFAULT_REROLLS, MAX_REROLLS
from placard.domain.templates import (
    Catalogue,
    TemplateFileError,
    parse_template,
    quoted_variables,
    templates_dir,
)

# docs/design.md §1: names and required variables are part of the contract;
# `text` lists every variable the prompt quotes (§7), optional ones included.
CONTRACT = {
    "launch-poster": (
        "poster",
        {"product", "headline", "cta"},
        ("headline", "tagline", "cta"),
        "1024x1536",
    ),
    "event-poster": (
        "poster",
        {"event_name", "date", "venue"},
        ("event_name", "date", "venue", "cta"),
        "1024x1536",
    ),
    "social-square": (
        "ad",
        {"product", "headline", "cta"},
        ("headline", "offer", "cta"),
        "1024x1024",
    ),
    "banner-wide": ("ad", {"product", "headline", "cta"}, ("headline", "cta"), "1536x1024"),
    "storefront-sign": (
        "signage",
        {"store_name", "message"},
        ("store_name", "message", "hours"),
        "1536x1024",
    ),
    "shelf-price-sign": (
        "signage",
        {"product", "price"},
        ("product", "price", "unit", "promo"),
        "1024x1024",
    ),
}
POSTER = {"product": "Aurora trail shoe", "headline": "Run Past Sunrise", "cta": "Pre-order now"}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_catalogue_holds_the_spec_templates(catalogue: Catalogue, name: str) -> None:
    # Given the built-in catalogue, When a contract template is looked up
    template = catalogue[name]
    kind, required, text, size = CONTRACT[name]
    # Then its kind, required variables, text fields and default size are the contract's
    assert template.kind == kind
    assert template.mode is Mode.GENERATE
    assert {v.name for v in template.variables.values() if v.required} == required
    assert template.text == text
    assert template.default_size == Size.parse(size)


def test_a_missing_required_variable_is_named(catalogue: Catalogue) -> None:
    # Given a launch poster without its call to action
    values = {k: v for k, v in POSTER.items() if k != "cta"}
    # When it is rendered, Then the error names the variable
    with pytest.raises(InvalidInput) as caught:
        catalogue["launch-poster"].render(values)
    assert caught.value.field == "cta"
    assert "required" in caught.value.reason


def test_a_value_that_looks_like_template_code_stays_literal(catalogue: Catalogue) -> None:
    # Given a headline that is Jinja code
    values = {**POSTER, "headline": "{{ 7*7 }}", "tagline": "{% for x in range(3) %}x{% endfor %}"}
    # When the prompt is rendered
    prompt = catalogue["launch-poster"].render(values)
    # Then the value is printed as written, never evaluated
    assert '"{{ 7*7 }}"' in prompt
    assert "49" not in prompt
    assert "{% for x in range(3) %}x{% endfor %}" in prompt


def test_values_are_normalised_before_their_length_is_checked(catalogue: Catalogue) -> None:
    # Given a headline with padding, a line break and a decomposed accent
    values = {**POSTER, "headline": "  Cafe\u0301\n  Lumière  "}
    # When rendered, Then whitespace is collapsed and the accent composed (NFC)
    assert '"Café Lumière"' in catalogue["launch-poster"].render(values)


def test_too_long_and_badly_patterned_values_are_refused(catalogue: Catalogue) -> None:
    template = catalogue["launch-poster"]
    with pytest.raises(InvalidInput, match="at most 40"):
        template.render({**POSTER, "headline": "x" * 41})
    with pytest.raises(InvalidInput) as caught:
        template.render({**POSTER, "brand_color": "orange"})
    assert caught.value.field == "brand_color"


def test_defaults_fill_optional_variables(catalogue: Catalogue) -> None:
    assert "#FF5A1F" in catalogue["launch-poster"].render(POSTER)


def test_an_unknown_template_is_named(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownTemplate, match="no template named 'nope'"):
        catalogue["nope"]


def test_a_template_using_an_undeclared_variable_is_refused_when_it_loads() -> None:
    # Given a template whose body uses a variable it does not declare
    source = "---\nname: t\nkind: ad\nvariables: {a: {required: true}}\n---\n{{ a }} {{ b }}\n"
    # When it is parsed, Then the file is refused, naming the variable, before any row uses it
    with pytest.raises(
        TemplateFileError, match=r"t\.j2: the body uses undeclared variables \['b'\]"
    ):
        parse_template(source, "t.j2")


def test_sandbox_blocks_attribute_escapes_when_the_template_loads() -> None:
    # Given a body reaching for a value's class (the first step of a sandbox escape)
    source = (
        "---\nname: t\nkind: ad\nvariables: {a: {required: true}}\n---\n{{ a.__class__.__mro__ }}\n"
    )
    # When it is parsed, Then the sandbox's refusal is the file's error
    with pytest.raises(TemplateFileError, match=r"unsafe"):
        parse_template(source, "t.j2")


def test_a_pattern_is_explained_in_the_words_of_its_format(catalogue: Catalogue) -> None:
    # Given the launch poster, whose brand_color declares a format in words
    # When a person writes a colour name
    with pytest.raises(InvalidInput) as caught:
        catalogue["launch-poster"].render({**POSTER, "brand_color": "red"})
    # Then the answer says what is allowed, not the regex
    assert str(caught.value) == "brand_color: 'red' is not a colour as #RRGGBB, e.g. #FF5A1F"


def test_a_pattern_without_a_format_names_the_pattern() -> None:
    template = parse_template(
        "---\nname: t\nkind: ad\nvariables: {code: {pattern: '[A-Z]{3}'}}\n---\n{{ code }}\n"
    )
    with pytest.raises(InvalidInput, match=r"'ab' is not text matching the pattern \[A-Z\]\{3\}"):
        template.render({"code": "ab"})


@pytest.mark.parametrize(
    "value",
    ["   ", "\u200b\u200b", "\u200d", "\x00\x1b", "\u202e"],
    ids=["spaces", "zero-width-spaces", "zero-width-joiner", "controls", "bidi-override"],
)
def test_copy_with_nothing_visible_is_empty_and_fails_as_required(
    catalogue: Catalogue, value: str
) -> None:
    # Given a required headline with nothing visible in it
    # When rendered, Then it fails as required, saying why
    with pytest.raises(InvalidInput) as caught:
        catalogue["launch-poster"].render({**POSTER, "headline": value})
    assert caught.value.field == "headline"
    assert caught.value.reason == "is required but has no visible characters"


def test_control_characters_never_reach_the_prompt(catalogue: Catalogue) -> None:
    # Given copy carrying a terminal escape, a NUL, a zero-width space and a bidi override
    values = {**POSTER, "headline": "Sale\x1b[2J\x00 now\u200b\u202eyes"}
    # When rendered
    prompt = catalogue["launch-poster"].render(values)
    # Then none of them is in the prompt, and the words are kept apart
    assert '"Sale [2J now yes"' in prompt
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in prompt)
    assert "\u200b" not in prompt and "\u202e" not in prompt


def test_template_version_is_the_hash_of_its_file() -> None:
    source = "---\nname: t\nkind: ad\n---\nhello\n"
    assert parse_template(source).version == parse_template(source).version
    assert parse_template(source).version != parse_template(source + " ").version


def test_a_broken_template_file_is_reported_with_its_path() -> None:
    with pytest.raises(TemplateFileError, match=r"broken\.j2"):
        parse_template("no front matter", "templates/ad/broken.j2")
    with pytest.raises(TemplateFileError, match="undeclared"):
        parse_template("---\nname: t\nkind: ad\ntext: [headline]\n---\nx\n", "t.j2")


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [
        ("name: t\nkind: ad\ncolour: red", r"unknown keys \['colour'\]"),
        ("name: t\nkind: ad\nvariables: {a: {requried: true}}", r"variable a: unknown keys"),
        ("name: t\nkind: ad\nvariables: {a: true}", r"variable a must be a mapping"),
        ("name: t\nkind: ad\nvariables: {a: {pattern: '['}}", r"pattern '\[' is not a regex"),
        ("name: t\nkind: ad\nvariables: {a: {max_length: -1}}", r"max_length must be a whole"),
        ("name: t\nkind: ad\ntext: headline", r"text must be a list"),
        ("name: t\nkind: ad\nmode: paint", r"mode must be generate or edit"),
        ("name: t\nkind: ad\ndefaults: {quality: ultra}", r"quality: must be one of"),
        ("kind: ad", r"front matter needs 'name'"),
        ("name: [t\nkind: ad", r"not valid YAML"),
        ("- a\n- b", r"front matter must be a mapping"),
    ],
    ids=[
        "unknown-key",
        "misspelt-variable-rule",
        "variable-not-a-mapping",
        "broken-regex",
        "negative-max-length",
        "text-not-a-list",
        "unknown-mode",
        "unknown-default-quality",
        "no-name",
        "yaml-syntax-error",
        "front-matter-a-list",
    ],
)
def test_a_broken_front_matter_is_refused_with_the_file_and_the_reason(
    front_matter: str, message: str
) -> None:
    # Given a template file whose front matter is broken in one way
    source = f"---\n{front_matter}\n---\nhello\n"
    # When it is parsed, Then the error names the file and what is wrong
    with pytest.raises(TemplateFileError, match=message) as caught:
        parse_template(source, "templates/ad/t.j2")
    assert str(caught.value).startswith("templates/ad/t.j2: ")


def test_every_built_in_template_proofs_every_variable_its_prompt_quotes() -> None:
    # Given every template file shipped, read as written (not through the catalogue's checks)
    paths = sorted(templates_dir().glob("*/*.j2"))
    assert len(paths) == 8
    for path in paths:
        template = parse_template(path.read_text(encoding="utf-8"), str(path))
        _, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
        # Then each variable its prompt quotes is one of its text fields
        quoted = quoted_variables(body)
        assert quoted, path
        assert set(quoted) <= set(template.text), path


def test_the_launch_posters_tagline_is_copy_to_proof(catalogue: Catalogue) -> None:
    # Given a launch poster with a tagline
    template = catalogue["launch-poster"]
    values = template.values({**POSTER, "tagline": "Grip that holds on wet rock"})
    # When its words to proof are listed, Then the tagline is among them, in reading order
    assert template.texts(values) == [
        ("headline", "Run Past Sunrise"),
        ("tagline", "Grip that holds on wet rock"),
        ("cta", "Pre-order now"),
    ]
    # and without one, it is not asked for
    assert [name for name, _ in template.texts(template.values(POSTER))] == ["headline", "cta"]


@pytest.mark.parametrize(
    "body",
    [
        'A badge reads exactly "{{ offer }}".',
        "A badge reads exactly \u201c{{ offer | upper }}\u201d.",
        '{% if offer %}A badge reads "Only {{offer}} today".{% endif %}',
    ],
    ids=["straight-quotes", "curly-quotes-and-a-filter", "inside-a-condition"],
)
def test_a_template_quoting_a_variable_text_does_not_list_is_refused(body: str) -> None:
    # Given a template whose prompt quotes `offer` but whose text lists only the headline
    source = (
        "---\nname: t\nkind: ad\nvariables: {headline: {required: true}, offer: {}}\n"
        f'text: [headline]\n---\nHeadline "{{{{ headline }}}}". {body}\n'
    )
    # When it is parsed, Then the file is refused, naming the file and the variable
    with pytest.raises(TemplateFileError) as caught:
        parse_template(source, "templates/ad/t.j2")
    assert str(caught.value).startswith("templates/ad/t.j2: the body quotes ['offer']")


def test_a_variable_printed_outside_quotes_need_not_be_proofed() -> None:
    # The product's name guides the picture; only quoted copy must appear as written
    source = (
        "---\nname: t\nkind: ad\nvariables: {product: {}, headline: {}}\n"
        'text: [headline]\n---\nA poster for {{ product }}, reading "{{ headline }}".\n'
    )
    assert parse_template(source).text == ("headline",)


def test_re_rolls_default_and_are_set_by_the_front_matter(catalogue: Catalogue) -> None:
    # Given the built-in templates, which leave the re-rolls to the default
    assert {t.rerolls for t in catalogue.values()} == {DEFAULT_REROLLS}
    assert catalogue["launch-poster"].describe()["proof"] == {"rerolls": DEFAULT_REROLLS}
    # When a template sets its own, Then it is the template's, and describe() shows it
    template = parse_template("---\nname: t\nkind: ad\nproof: {rerolls: 0}\n---\nhello\n")
    assert template.rerolls == 0
    assert template.describe()["proof"] == {"rerolls": 0}


@pytest.mark.parametrize(
    ("proof", "message"),
    [
        (
            f"{{rerolls: {MAX_REROLLS + 1}}}",
            rf"proof: rerolls must be a whole number, 0..{MAX_REROLLS}",
        ),
        ("{rerolls: -1}", "proof: rerolls must be a whole number"),
        ("{rerolls: two}", "proof: rerolls must be a whole number"),
        ("{rerolls: true}", "proof: rerolls must be a whole number"),
        ("{reroll: 1}", r"proof: unknown keys \['reroll'\]"),
        ("3", "proof must be a mapping"),
    ],
    ids=["too-many", "negative", "a-word", "a-boolean", "misspelt-key", "not-a-mapping"],
)
def test_a_broken_proof_policy_is_refused_naming_the_file(proof: str, message: str) -> None:
    source = f"---\nname: t\nkind: ad\nproof: {proof}\n---\nhello\n"
    with pytest.raises(TemplateFileError, match=message) as caught:
        parse_template(source, "templates/ad/t.j2")
    assert str(caught.value).startswith("templates/ad/t.j2: ")
