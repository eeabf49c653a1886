"""A number as an Excel cell shows it: a price cell holding 4.5 and formatted `$#,##0.00` reads
"$4.50" on the sign, as the marketer typed it, not "4.5".

The common formats are read: fixed and optional decimals, thousands separators, percent,
currency symbols (`$`, `[$€-407]`, quoted text), and a second section for negatives. Anything
else (fractions, scientific, scaled thousands) returns None, and the caller shows the number as
it is stored.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

_CURRENCY = re.compile(r"\[\$([^\]-]*)(?:-[^\]]*)?\]")  # [$€-407] -> €
_BRACKETS = re.compile(r"\[[^\]]*\]")  # [Red], [>=100], [$-409] locale tags
_PLACEHOLDERS = "0#?"


def shown(value: float | int, number_format: str) -> str | None:
    """The text Excel shows for `value` in `number_format`, or None for a format not read."""
    if not number_format or number_format == "General" or number_format == "@":
        return None
    sections = number_format.split(";")
    negative = value < 0
    if negative and len(sections) > 1 and sections[1]:
        section, value, sign = sections[1], -value, ""  # the section shows its own sign
    else:
        section, sign = sections[0], "-" if negative else ""
        value = abs(value)
    parts = _tokens(_CURRENCY.sub(lambda m: f'"{m.group(1)}"', section))
    if parts is None:
        return None
    prefix, pattern, suffix = parts
    if not pattern:
        return None
    number = Decimal(str(value)) * (100 if "%" in prefix + suffix else 1)
    return f"{sign}{prefix}{_number(number, pattern)}{suffix}"


def _tokens(section: str) -> tuple[str, str, str] | None:
    """(text before the number, the number's pattern, text after it)."""
    section = _BRACKETS.sub("", section)
    before: list[str] = []
    pattern: list[str] = []
    after: list[str] = []
    i = 0
    while i < len(section):
        char = section[i]
        target = after if pattern else before
        if char == '"':
            end = section.find('"', i + 1)
            if end < 0:
                return None
            target.append(section[i + 1 : end])
            i = end + 1
            continue
        if char == "\\" and i + 1 < len(section):
            target.append(section[i + 1])
            i += 2
            continue
        if char in "_*":  # alignment padding and fill: no visible text of their own
            i += 2
            continue
        if char in _PLACEHOLDERS or (char in ".," and pattern):
            if after:  # a second number in one section: a fraction or such
                return None
            pattern.append(char)
        elif char == "/" or char.isalpha():
            return None  # scientific, fractions, dates and other words: not read here
        else:
            target.append(char)
        i += 1
    text = "".join(pattern).rstrip(",")
    if text != "".join(pattern):
        return None  # trailing commas scale by thousands
    return "".join(before), text, "".join(after)


def _number(number: Decimal, pattern: str) -> str:
    whole, _, decimals = pattern.partition(".")
    shown_always = len(decimals) - len(decimals.lstrip("0"))
    places = sum(1 for c in decimals if c in _PLACEHOLDERS)
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:{',' if ',' in whole else ''}.{places}f}"
    if places > shown_always:  # "#" decimals show only when they are not zero
        integer, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(shown_always, "0")
        text = f"{integer}.{fraction}" if fraction else integer
    if not whole.strip(",").count("0") and text.startswith("0."):
        text = text[1:]  # "#.00" shows .50, not 0.50
    return text
