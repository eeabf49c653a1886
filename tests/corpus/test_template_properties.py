"""Properties of the template renderer, over any text hypothesis can make: a value is printed
as data and never run; normalising twice changes nothing; rendering raises nothing but
InvalidInput."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from placard.domain.errors import InvalidInput
from placard.domain.templates import Template, default_catalogue, normalise, parse_template

# Any Unicode text (controls, zero-width and bidi characters included), and Jinja's own syntax.
JINJA = st.sampled_from(
    ["{{ 7*7 }}", "{% for x in range(9) %}x{% endfor %}", "{{ ''.__class__ }}", "{#", "}}", "{%"]
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
VALUE = st.one_of(TEXT, st.builds(lambda a, j, b: a + j + b, TEXT, JINJA, TEXT))
LIMITED = settings(max_examples=150, deadline=None)

# A template whose body prints one variable between markers, with no length limit.
ECHO = parse_template(
    "---\nname: echo\nkind: ad\nvariables: {v: {required: true}}\n---\n[[{{ v }}]]\n"
)


@LIMITED
@given(VALUE)
def test_a_value_is_printed_as_data_never_run(value: str) -> None:
    # Given any value, Jinja syntax and control characters included
    try:
        # When it fills a template's variable
        prompt = ECHO.render({"v": value})
    except InvalidInput as exc:
        # Then either it is refused as empty, naming the variable...
        assert exc.field == "v" and normalise(value) == ""
        return
    # ...or the prompt holds exactly its normalised text, nothing evaluated
    assert prompt == f"[[{normalise(value)}]]"


@LIMITED
@given(st.one_of(VALUE, st.integers(), st.none()))
def test_normalising_is_idempotent(value: object) -> None:
    # Given any value, When it is normalised twice, Then the second pass changes nothing
    once = normalise(value)
    assert normalise(once) == once
    # And the result is NFC, trimmed, without control characters or runs of whitespace
    assert unicodedata.is_normalized("NFC", once)
    assert once == once.strip() and "  " not in once
    assert not any(unicodedata.category(c) == "Cc" for c in once)


def _catalogue_templates() -> list[Template]:
    return list(default_catalogue().values())


@LIMITED
@given(
    st.sampled_from(_catalogue_templates()),
    st.dictionaries(
        st.sampled_from(
            ["product", "headline", "cta", "tagline", "brand_color", "event_name", "date",
             "venue", "offer", "store_name", "message", "hours", "price", "unit", "promo",
             "new_text", "old_price", "style_hint", "unknown"]
        ),
        st.one_of(VALUE, st.integers(), st.none(), st.floats(allow_nan=True)),
    ),
)  # fmt: skip
def test_rendering_raises_nothing_but_invalid_input(
    template: Template, values: dict[str, object]
) -> None:
    # Given any built-in template and any values, missing, too long, odd types or hostile
    try:
        # When it is rendered
        prompt = template.render(values)
    except InvalidInput as exc:
        # Then a refusal names one of the template's variables
        assert exc.field in template.variables
        return
    # And a prompt has no control characters
    assert not any(unicodedata.category(c) == "Cc" for c in prompt)
