"""Regenerate the sheets of tests/data/sheets: `python tests/data/sheets/make_fixtures.py`.

CSVs are written in the encodings and with the delimiters spreadsheet programs use. XLSX
workbooks are written as XML by hand, the way Excel saves them (shared strings, styles,
`<dimension>`, formulas with their cached values), because openpyxl cannot store a formula's
cached value. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).parent

# CSV copy: LATIN fits Windows-1252 (including its euro sign, en dash, curly quotes and oe,
# which Latin-1 lacks); WORLD needs Unicode: CJK, Arabic, Hebrew, emoji with a zero-width
# joiner and a flag, and an é decomposed into e and a combining accent.
HEADER = ["Template", " Store Name ", "MESSAGE", "Hours"]
LATIN = [
    ["storefront-sign", "Café Zoë", "Grand opening €5 off", "9–17"],
    ["storefront-sign", "Ünal & Söhne", "Große Eröffnung, 20% Rabatt", "Mo–Fr"],
    ["storefront-sign", "Cœur de “Lyon”", 'Say "bonjour"; get 10%', ""],
]
WORLD = [
    ["storefront-sign", "山田書店", "新刊入荷しました 📚", "10:00–20:00"],
    ["storefront-sign", "مكتبة النور", "تخفيضات الصيف", ""],
    ["storefront-sign", "חנות הספרים", "מבצע קיץ 🌞", ""],
    ["storefront-sign", "👩\u200d🍳 Chez Zoë 🇫🇷", "Cafe\u0301 ouvert", ""],
]


def csv_text(rows: Sequence[Sequence[str]], delimiter: str) -> str:
    """Rows as Excel writes them: CRLF, a cell quoted only when it must be."""

    def cell(value: str) -> str:
        if any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(cell(v) for v in row) + "\r\n" for row in rows)


def write_csvs() -> None:
    files: dict[str, tuple[bytes, str]] = {
        # Excel "CSV UTF-8" and other tools: with and without the BOM
        "utf8.csv": (b"", csv_text([HEADER, *LATIN, *WORLD], ",")),
        "utf8-bom.csv": (codecs.BOM_UTF8, csv_text([HEADER, *LATIN, *WORLD], ",")),
        # Excel "Unicode text": UTF-16 LE with a BOM, tab-delimited, .txt
        "utf16le-bom.txt": (codecs.BOM_UTF16_LE, csv_text([HEADER, *LATIN, *WORLD], "\t")),
        "utf16be-bom.csv": (codecs.BOM_UTF16_BE, csv_text([HEADER, *LATIN, *WORLD], ";")),
        # Excel "CSV (comma delimited)" on Windows: the ANSI code page
        "cp1252.csv": (b"", csv_text([HEADER, *LATIN], ",")),
    }
    codec = {"utf16le-bom.txt": "utf-16-le", "utf16be-bom.csv": "utf-16-be", "cp1252.csv": "cp1252"}
    for name, (bom, text) in files.items():
        (HERE / name).write_bytes(bom + text.encode(codec.get(name, "utf-8")))

    rows = [
        ["template", "product", "price", "unit", "promo"],
        ["shelf-price-sign", "Äpfel, rot", "4,50 €", "per kg", ""],
        ["shelf-price-sign", "Bananen", "1,99 €", "per Bund", "2 für 3,50 €"],
        ["shelf-price-sign", "Kiwi; gold", "0,69 €", "Stück", "3 für 2, nur heute"],
    ]
    # Semicolons where the decimal separator is a comma: every row has commas. The last row
    # is written as LibreOffice's "quote all text cells" does, so its commas are quoted.
    semicolon = csv_text(rows[:-1], ";") + ";".join(f'"{v}"' for v in rows[-1]) + "\r\n"
    (HERE / "semicolon.csv").write_text(semicolon, encoding="utf-8", newline="")
    (HERE / "comma.csv").write_text(csv_text(rows, ","), encoding="utf-8", newline="")
    # Tab-separated: commas and semicolons in the copy are plain text, never quoted
    (HERE / "tab.tsv").write_text(csv_text(rows, "\t"), encoding="utf-8", newline="")
    edge = {
        "header-only.csv": "template;store_name;message\r\n",
        # One column: its cells' commas are copy, not delimiters, quoted or not
        "one-column.csv": 'headline\r\nHello, world\r\n"Big, bold, bright"\r\nPlain\r\n',
        # Excel's hint line names the delimiter; it is not shown as a row
        "sep-line.csv": "sep=;\r\ntemplate;store_name;message\r\n"
        "storefront-sign;Café Zoë;Open, finally\r\n",
        # A cell with line breaks (Alt+Enter) is one row, as Excel numbers them
        "multiline.csv": csv_text(
            [
                ["template", "store_name", "message"],
                ["storefront-sign", "Zoë", "Line one\nLine two"],
                ["storefront-sign", "Ann", "Single line"],
                [],
                ["storefront-sign", "", "Missing its store name"],
            ],
            ",",
        ),
    }
    for name, text in edge.items():
        (HERE / name).write_text(text, encoding="utf-8", newline="")


# XLSX, written as Excel writes it

STYLE_DATE, STYLE_DATETIME, STYLE_PRICE, STYLE_FILL = 1, 2, 3, 4  # indexes into cellXfs
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


@dataclass(frozen=True)
class Formula:
    text: str
    cached: object  # what Excel computed when it saved: str, number, bool or Error


@dataclass(frozen=True)
class Error:
    code: str  # "#DIV/0!", "#N/A", ...


@dataclass(frozen=True)
class Number:
    text: str  # stored exactly as given, e.g. "12.0" (other writers than Excel do that)
    style: int = 0


@dataclass(frozen=True)
class Styled:
    value: object = None  # None: a formatted cell with nothing in it
    style: int = STYLE_FILL


@dataclass(frozen=True)
class Inline:
    text: str  # an inline string (t="inlineStr"), as some exporters write


@dataclass(frozen=True)
class Rich:
    runs: tuple[tuple[str, bool], ...]  # (text, bold): a cell with part of its text formatted


@dataclass
class Sheet:
    name: str
    cells: Mapping[int, Mapping[str, object]]  # Excel row number -> column letters -> value
    state: str = "visible"
    dimension: str | None = None  # what <dimension> claims; default: the range used
    styled_rows: Sequence[int] = field(default_factory=tuple)  # formatted rows, no cells


def column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def table(top_left: str, rows: Sequence[Sequence[object]]) -> dict[int, dict[str, object]]:
    """A block of rows placed with its first cell at `top_left`; None cells are left out."""
    match = re.fullmatch(r"([A-Z]+)(\d+)", top_left)
    assert match
    first_column, first_row = column_number(match[1]), int(match[2])
    return {
        first_row + r: {
            column_letters(first_column + c): value
            for c, value in enumerate(row)
            if value is not None
        }
        for r, row in enumerate(rows)
    }


class Strings:
    """The shared-strings table: each distinct text once, in order of first use."""

    def __init__(self) -> None:
        self.index: dict[object, int] = {}

    def __call__(self, text: str | Rich) -> int:
        return self.index.setdefault(text, len(self.index))

    def xml(self) -> str:
        items = []
        for text in self.index:
            if isinstance(text, Rich):
                runs = "".join(
                    f"<r>{'<rPr><b/></rPr>' if bold else ''}{_t(part)}</r>"
                    for part, bold in text.runs
                )
                items.append(f"<si>{runs}</si>")
            else:
                items.append(f"<si>{_t(str(text))}</si>")
        n = len(self.index)
        return (
            f'{XML_DECL}<sst xmlns="{MAIN_NS}" count="{n}" uniqueCount="{n}">'
            + "".join(items)
            + "</sst>"
        )


def _t(text: str) -> str:
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return f"<t{space}>{escape(text)}</t>"


def _serial(value: dt.date) -> str:
    moment = value if isinstance(value, dt.datetime) else dt.datetime(*value.timetuple()[:3])
    days = (moment - EXCEL_EPOCH) / dt.timedelta(days=1)
    return repr(int(days)) if days.is_integer() else repr(round(days, 10))


def _cell(ref: str, value: object, strings: Strings) -> str:
    style = ""
    if isinstance(value, Styled):
        style = f' s="{value.style}"'
        if value.value is None:
            return f'<c r="{ref}"{style}/>'
        value = value.value
    formula = ""
    if isinstance(value, Formula):
        formula = f"<f>{escape(value.text)}</f>"
        value = value.cached
        if isinstance(value, str):  # a formula's text result is stored in the cell, t="str"
            return f'<c r="{ref}"{style} t="str">{formula}<v>{escape(value)}</v></c>'
    if isinstance(value, Error):
        return f'<c r="{ref}"{style} t="e">{formula}<v>{escape(value.code)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}"{style} t="b">{formula}<v>{int(value)}</v></c>'
    if isinstance(value, dt.date):
        kind = STYLE_DATETIME if isinstance(value, dt.datetime) else STYLE_DATE
        return f'<c r="{ref}" s="{kind}">{formula}<v>{_serial(value)}</v></c>'
    if isinstance(value, Number):
        style = f' s="{value.style}"' if value.style else style
        return f'<c r="{ref}"{style}>{formula}<v>{value.text}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"{style}>{formula}<v>{value!r}</v></c>'
    if isinstance(value, Inline):
        return f'<c r="{ref}"{style} t="inlineStr"><is>{_t(value.text)}</is></c>'
    if isinstance(value, str | Rich):
        return f'<c r="{ref}"{style} t="s"><v>{strings(value)}</v></c>'
    raise TypeError(f"{ref}: cannot write {value!r}")


def _sheet_xml(sheet: Sheet, strings: Strings) -> str:
    used = [(r, column_number(c)) for r, row in sheet.cells.items() for c in row]
    if sheet.dimension:
        dimension = sheet.dimension
    elif used:
        rows, cols = [r for r, _ in used], [c for _, c in used]
        dimension = f"{column_letters(min(cols))}{min(rows)}:{column_letters(max(cols))}{max(rows)}"
    else:
        dimension = "A1"
    parts = [
        f'{XML_DECL}<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">',
        f'<dimension ref="{dimension}"/>',
        '<sheetViews><sheetView workbookViewId="0"/></sheetViews>',
        '<sheetFormatPr defaultRowHeight="15"/><sheetData>',
    ]
    for number in sorted(set(sheet.cells) | set(sheet.styled_rows)):
        row = sheet.cells.get(number, {})
        ordered = sorted(row.items(), key=lambda kv: column_number(kv[0]))
        attributes = f' r="{number}"'
        if ordered:
            first, last = column_number(ordered[0][0]), column_number(ordered[-1][0])
            attributes += f' spans="{first}:{last}"'
        if number in sheet.styled_rows:
            attributes += f' s="{STYLE_FILL}" customFormat="1"'
        cells = "".join(_cell(f"{c}{number}", v, strings) for c, v in ordered)
        parts.append(f"<row{attributes}>{cells}</row>" if cells else f"<row{attributes}/>")
    parts.append('</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
                 'header="0.3" footer="0.3"/></worksheet>')  # fmt: skip
    return "".join(parts)


XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
STYLES = (
    f'{XML_DECL}<styleSheet xmlns="{MAIN_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFFFFF00"/></patternFill></fill>'
    '</fills><borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="2" borderId="0" xfId="0" applyFill="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def write_xlsx(path: Path, sheets: Sequence[Sheet]) -> None:
    """A workbook as Excel saves it; deterministic (fixed timestamps, fixed order)."""
    strings = Strings()
    bodies = [_sheet_xml(sheet, strings) for sheet in sheets]
    n = len(sheets)
    content_types = (
        f'{XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{OFFICE}.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            f'ContentType="{OFFICE}.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Override PartName="/xl/styles.xml" ContentType="{OFFICE}.styles+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{OFFICE}.sharedStrings+xml"/>'
        "</Types>"
    )
    package_rels = (
        f'{XML_DECL}<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'{XML_DECL}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><workbookPr/>'
        '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(
            f'<sheet name="{escape(s.name, {chr(34): "&quot;"})}" sheetId="{i}"'
            + (f' state="{s.state}"' if s.state != "visible" else "")
            + f' r:id="rId{i}"/>'
            for i, s in enumerate(sheets, start=1)
        )
        + '</sheets><calcPr calcId="191029"/></workbook>'
    )
    workbook_rels = (
        f'{XML_DECL}<Relationships xmlns="{PKG_REL_NS}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{REL_NS}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n + 2}" Type="{REL_NS}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    )
    parts = {
        "[Content_Types].xml": content_types,
        "_rels/.rels": package_rels,
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": workbook_rels,
        **{f"xl/worksheets/sheet{i}.xml": body for i, body in enumerate(bodies, start=1)},
        "xl/styles.xml": STYLES,
        "xl/sharedStrings.xml": strings.xml(),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            book.writestr(info, text.encode("utf-8"))


def write_workbooks() -> None:
    # Formulas with the values Excel cached; numbers, dates, booleans, rich and inline text
    prices = table(
        "A1",
        [
            ["template", "product", "base_price", "price", "unit", "n", "saving", "in_stock",
             "promo_ends"],
            ["shelf-price-sign", "Bananas", 5, Formula('TEXT(C2*0.9,"$0.00")', "$4.50"),
             "per lb", Formula("1+1", 2), Formula("C2-C2*0.9", 0.5), Formula("C2>3", True),
             dt.date(2025, 7, 1)],
            ["shelf-price-sign", "Äpfel", Styled(4.5, STYLE_PRICE), Formula("C3", 4.5),
             Rich((("per ", False), ("kg", True))), Formula("C3*2-7", Number("2.0")),
             Formula("0.1+0.2", 0.30000000000000004), False, dt.datetime(2025, 7, 1, 18, 30)],
            ["shelf-price-sign", "Kiwi", 0, Formula("1/C4", Error("#DIV/0!")), "each",
             1, Formula("C4", 0), True, None],
            ["shelf-price-sign", Inline("Mangue 🥭"), Number("12.0"), "$1.99", None,
             Number("3"), Number("1.5E-3"), None, None],
        ],
    )  # fmt: skip
    write_xlsx(HERE / "formulas.xlsx", [Sheet("Prices", prices)])

    # The table starts at C3; blank rows and columns around it, formatted or not. The first
    # sheet is hidden, the third is read by its name and claims a stale one-cell dimension.
    campaign = table(
        "C3",
        [
            ["Template", "Store name", "Message"],
            ["storefront-sign", "Café Zoë", "Now open"],
            ["storefront-sign", "山田書店", "新刊入荷 📚"],
            ["storefront-sign", "مكتبة النور", "שלום, welcome"],
        ],
    )
    for number in range(3, 7):  # formatted but empty cells right of the table
        campaign[number]["F"] = Styled()
        campaign[number]["H"] = Styled()
    campaign[4]["G"] = "   "  # only spaces: blank
    campaign[10] = {"D": Styled(), "E": ""}  # a blank row below the table
    second = table(
        "B2",
        [
            ["template", "product", "price"],
            ["shelf-price-sign", "Oat milk", "$2.49"],
            [None, None, None],
            ["shelf-price-sign", "Rye bread", Styled(3.2, STYLE_PRICE)],
        ],
    )
    write_xlsx(
        HERE / "layout.xlsx",
        [
            Sheet("Lookup", table("A1", [["sizes"], ["1024x1024"]]), state="hidden"),
            Sheet("Campaign", campaign, styled_rows=(1, 8, 9, 12)),
            Sheet("Second sheet", second, dimension="A1"),
        ],
    )

    # Good and bad rows, blank ones between: each row is one job or at least one error
    header = ["template", "store_name", "message", "product", "price", "headline", "cta",
              "brand_color", "event_name", "date", "venue", "quality", "size", "n",
              "source_image"]  # fmt: skip
    rows: dict[int, list[object]] = {
        2: ["storefront-sign", "Café Zoë", "Now open"],
        3: ["shelf-price-sign", None, None, "Oat milk", 4.5, None, None, None, None, None,
            None, None, None, 2],
        4: ["shelf-price-sign", None, None, "Rye bread"],
        5: ["launch-poster", None, None, "Aurora", None,
            "A headline much too long for its template", "Buy", "orange"],
        7: ["event-poster", None, None, None, None, None, None, None, "Jazz Night",
            dt.date(2025, 7, 12), "Harbour Hall"],
        8: [None, "No template here", "Hello"],
        9: ["social-square", None, None, "Cold brew", None, "Cool", "Try", None, None, None,
            None, "ultra", "1000x1000"],
        11: ["price-tag-edit", None, None, None, "$1.99", None, None, None, None, None, None,
             None, None, None, "../photos/tag.jpg"],
        12: ["banner-wide", None, None, "Nimbus", None, Formula('UPPER("stay dry")', "STAY DRY"),
             "Shop now", None, None, None, None, "high", "1536x1024", 1],
        13: ["social-square", None, None, "Tea", None, "Hot", "Sip", None, None, None, None,
             None, None, 11],
        14: ["storefront-sign", "مكتبة النور", Formula("Lookup!A2", Error("#N/A"))],
        15: ["storefront-sign", "חנות הספרים", "מבצע קיץ 🌞"],
    }  # fmt: skip
    cells = table("A1", [header])
    for number, row in rows.items():
        cells.update(table(f"A{number}", [row]))
    cells[10] = {"A": Styled(), "B": Styled()}  # formatted, but blank
    write_xlsx(HERE / "mixed.xlsx", [Sheet("Rows", cells, styled_rows=(6,))])


if __name__ == "__main__":
    write_csvs()
    write_workbooks()
