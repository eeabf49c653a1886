"""The template catalogue: load `templates/<kind>/<name>.j2`, check variables, render prompts.

Rendering is sandboxed and strict: an undefined variable is an error, and a value is passed
as data, so `{{ 7*7 }}` inside a value is printed as it is, never evaluated (invariant 5).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from placard.errors import InvalidInput, PlacardError, UnknownTemplate
from placard.jobs import Mode, Quality, Size, parse_n

KINDS = ("poster", "ad", "signage")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)
_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)


class TemplateFileError(PlacardError):
    """A template file itself is broken: a bug in the catalogue, not in a user's row."""


@dataclass(frozen=True)
class Variable:
    name: str
    required: bool = False
    default: str | None = None
    max_length: int | None = None
    pattern: str | None = None
    description: str = ""

    def clean(self, raw: object) -> str | None:
        """The normalised value, the default, or None; raises InvalidInput naming the variable."""
        value = normalise(raw)
        if not value:
            if self.default is not None:
                return self.default
            if self.required:
                raise InvalidInput(self.name, "is required but empty or missing", raw)
            return None
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidInput(
                self.name,
                f"is {len(value)} characters long; at most {self.max_length} fit",
                value,
            )
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise InvalidInput(self.name, f"must match {self.pattern}", value)
        return value


def normalise(raw: object) -> str:
    """Unicode NFC, whitespace runs collapsed to one space, trimmed."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFC", str(raw))
    return " ".join(text.split())


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    mode: Mode
    description: str
    variables: dict[str, Variable]
    text: tuple[str, ...]
    body: str
    version: str
    default_quality: Quality = Quality.MEDIUM
    default_size: Size | None = None
    default_n: int = 1
    path: str = field(default="", compare=False)

    def values(self, given: Mapping[str, object]) -> dict[str, str]:
        """Checked, normalised values for this template's variables; unknown keys are ignored."""
        values: dict[str, str] = {}
        for variable in self.variables.values():
            value = variable.clean(given.get(variable.name))
            if value is not None:
                values[variable.name] = value
        return values

    def render(self, given: Mapping[str, object]) -> str:
        values = self.values(given)
        context = {name: values.get(name, "") for name in self.variables}
        try:
            prompt = _compiled(self.body).render(context)
        except UndefinedError as exc:
            raise InvalidInput(self.name, f"template uses an undeclared variable: {exc}") from exc
        except TemplateError as exc:  # e.g. the sandbox refusing an unsafe attribute
            raise TemplateFileError(f"{self.path or self.name}: {exc}") from exc
        return " ".join(prompt.split())

    def texts(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        """The words that must appear in the image, in the template's order."""
        return [(name, values[name]) for name in self.text if values.get(name)]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "mode": self.mode.value,
            "description": self.description,
            "version": self.version,
            "defaults": {
                "quality": self.default_quality.value,
                "size": str(self.default_size) if self.default_size else None,
                "n": self.default_n,
            },
            "variables": {
                v.name: {
                    k: val
                    for k, val in (
                        ("required", v.required),
                        ("default", v.default),
                        ("max_length", v.max_length),
                        ("pattern", v.pattern),
                    )
                    if val not in (None, False)
                }
                for v in self.variables.values()
            },
            "text": list(self.text),
        }


@cache
def _compiled(body: str) -> jinja2.Template:
    # Compiling costs milliseconds; a sheet renders the same few templates thousands of times.
    return _ENV.from_string(body)


def parse_template(source: str, path: str = "") -> Template:
    match = _FRONT_MATTER.match(source)
    if not match:
        raise TemplateFileError(f"{path}: expected YAML front matter between '---' lines")
    meta = yaml.safe_load(match[1]) or {}
    body = match[2]
    where = path or meta.get("name", "?")
    try:
        variables = {
            name: Variable(
                name=name,
                required=bool(spec.get("required", False)),
                default=None if spec.get("default") is None else str(spec["default"]),
                max_length=spec.get("max_length"),
                pattern=spec.get("pattern"),
                description=str(spec.get("description", "")),
            )
            for name, spec in (meta.get("variables") or {}).items()
        }
        defaults = meta.get("defaults") or {}
        template = Template(
            name=str(meta["name"]),
            kind=str(meta["kind"]),
            mode=Mode(meta.get("mode", "generate")),
            description=str(meta.get("description", "")),
            variables=variables,
            text=tuple(meta.get("text") or ()),
            body=body,
            version=hashlib.sha256(source.encode()).hexdigest()[:12],
            default_quality=Quality.parse(str(defaults.get("quality", "medium"))),
            default_size=Size.parse(str(defaults["size"])) if defaults.get("size") else None,
            default_n=parse_n(defaults.get("n", 1)),
            path=path,
        )
        _ENV.parse(body)
    except (KeyError, ValueError, InvalidInput, TemplateError) as exc:
        raise TemplateFileError(f"{where}: {exc}") from exc
    if template.kind not in KINDS:
        raise TemplateFileError(f"{where}: kind must be one of {', '.join(KINDS)}")
    unknown = [name for name in template.text if name not in variables]
    if unknown:
        raise TemplateFileError(f"{where}: text names undeclared variables {unknown}")
    return template


class Catalogue(Mapping[str, Template]):
    """Every template under a folder, by name."""

    def __init__(self, templates: Mapping[str, Template]) -> None:
        self._templates = dict(templates)

    @classmethod
    def load(cls, root: Path) -> Catalogue:
        templates: dict[str, Template] = {}
        for path in sorted(root.glob("*/*.j2")):
            template = parse_template(path.read_text(encoding="utf-8"), str(path))
            if template.name in templates:
                raise TemplateFileError(f"{path}: a second template named {template.name!r}")
            if path.parent.name != template.kind:
                raise TemplateFileError(
                    f"{path}: kind {template.kind!r} but in {path.parent.name}/"
                )
            templates[template.name] = template
        if not templates:
            raise TemplateFileError(f"no templates found under {root}")
        return cls(templates)

    def __getitem__(self, name: str) -> Template:
        try:
            return self._templates[name]
        except KeyError:
            raise UnknownTemplate(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._templates)

    def __len__(self) -> int:
        return len(self._templates)


def templates_dir() -> Path:
    """PLACARD_TEMPLATES_DIR (on Lambda, the templates layer under /opt), else the repo's own."""
    configured = os.environ.get("PLACARD_TEMPLATES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "templates"


@cache
def default_catalogue() -> Catalogue:
    return Catalogue.load(templates_dir())
