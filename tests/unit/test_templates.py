from __future__ import annotations

import pytest

from placard.errors import InvalidInput, UnknownTemplate
from placard.jobs import Mode, Size
from placard.templates import Catalogue, TemplateFileError, parse_template

# SPEC §1: names and required variables are part of the contract.
CONTRACT = {
    "launch-poster": ("poster", {"product", "headline", "cta"}, ("headline", "cta"), "1024x1536"),
    "event-poster": (
        "poster",
        {"event_name", "date", "venue"},
        ("event_name", "date", "venue"),
        "1024x1536",
    ),
    "social-square": ("ad", {"product", "headline", "cta"}, ("headline", "cta"), "1024x1024"),
    "banner-wide": ("ad", {"product", "headline", "cta"}, ("headline", "cta"), "1536x1024"),
    "storefront-sign": (
        "signage",
        {"store_name", "message"},
        ("store_name", "message"),
        "1536x1024",
    ),
    "shelf-price-sign": ("signage", {"product", "price"}, ("product", "price"), "1024x1024"),
}
POSTER = {"product": "Aurora trail shoe", "headline": "Run Past Sunrise", "cta": "Pre-order now"}


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_catalogue_holds_the_spec_templates(catalogue: Catalogue, name: str) -> None:
    # Given the built-in catalogue, When a SPEC template is looked up
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


def test_a_template_using_an_undeclared_variable_fails_at_render() -> None:
    # Given a template whose body uses a variable it does not declare
    template = parse_template(
        "---\nname: t\nkind: ad\nvariables: {a: {required: true}}\n---\n{{ a }} {{ b }}\n"
    )
    # When rendered, Then StrictUndefined turns the gap into an error instead of ""
    with pytest.raises(InvalidInput, match="undeclared"):
        template.render({"a": "x"})


def test_sandbox_blocks_attribute_escapes() -> None:
    template = parse_template(
        "---\nname: t\nkind: ad\nvariables: {a: {required: true}}\n---\n{{ a.__class__.__mro__ }}\n"
    )
    with pytest.raises(TemplateFileError, match=r"unsafe"):
        template.render({"a": "x"})


def test_template_version_is_the_hash_of_its_file() -> None:
    source = "---\nname: t\nkind: ad\n---\nhello\n"
    assert parse_template(source).version == parse_template(source).version
    assert parse_template(source).version != parse_template(source + " ").version


def test_a_broken_template_file_is_reported_with_its_path() -> None:
    with pytest.raises(TemplateFileError, match=r"broken\.j2"):
        parse_template("no front matter", "templates/ad/broken.j2")
    with pytest.raises(TemplateFileError, match="undeclared"):
        parse_template("---\nname: t\nkind: ad\ntext: [headline]\n---\nx\n", "t.j2")
