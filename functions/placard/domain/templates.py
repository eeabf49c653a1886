"""The template catalogue: load `templates/<kind>/<name>.j2`, check variables, render prompts.

Rendering is sandboxed and strict: an undefined variable is an error, and a value is passed
as data, so `{{ 7*7 }}` inside a value is printed as it is, never evaluated (docs/design.md,
invariant 5).
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
from typing import TYPE_CHECKING, Any

from placard.domain.errors import InvalidInput, PlacardError, UnknownTemplate
from placard.domain.jobs import Mode, Quality, Size, parse_n
from placard.domain.proofs import DEFAULT_REROLLS, MAX_REROLLS

# Jinja and YAML (~150 ms to import) load with the first template parsed, not with this
# module, which every function imports for its types (a cold start's import).
if TYPE_CHECKING:
    import jinja2

KINDS = ("poster", "ad", "signage")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)


@cache
def _env() -> jinja2.Environment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
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
    format: str = ""  # the pattern in words, for people: "a colour as #RRGGBB, e.g. #FF5A1F"
    description: str = ""

    def clean(self, raw: object) -> str | None:
        """The normalised value, the default, or None; raises InvalidInput naming the variable."""
        value = normalise(raw)
        if not value:
            if self.default is not None:
                return self.default
            if self.required:
                blank = raw is not None and str(raw) != ""  # spaces, zero-width characters...
                reason = "has no visible characters" if blank else "empty or missing"
                raise InvalidInput(self.name, f"is required but {reason}", raw)
            return None
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidInput(
                self.name,
                f"is {len(value)} characters long; at most {self.max_length} fit",
                value,
            )
        if self.pattern and not re.fullmatch(self.pattern, value):
            allowed = self.format or f"text matching the pattern {self.pattern}"
            raise InvalidInput(self.name, f"{value!r} is not {allowed}", value)
        return value


# Control characters (C0, DEL, C1), zero-width spaces and bidi overrides: nothing a person
# types as copy, and some hide or reorder what a reader of the prompt or a report sees.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069]")


def without_controls(text: str, keep: str = "") -> str:
    """`text` without control characters, except those in `keep` (e.g. a report's line breaks)."""
    return _CONTROLS.sub(lambda m: m[0] if m[0] in keep else "", text)


def normalise(raw: object) -> str:
    """Control characters out, Unicode NFC, whitespace runs collapsed to one space, trimmed;
    copy with nothing visible left (zero-width joiners alone) is empty."""
    if raw is None:
        return ""
    text = _CONTROLS.sub(" ", str(raw))  # before NFC: removing one may join two characters
    text = " ".join(unicodedata.normalize("NFC", text).split())
    return text if any(unicodedata.category(c) != "Cf" for c in text) else ""


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
    rerolls: int = (
        DEFAULT_REROLLS  # front matter `proof: {rerolls: N}`: attempts after a failed proof
    )
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
        from jinja2 import TemplateError, UndefinedError

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
        """The words that must appear in the image, in the template's order: every variable
        the prompt quotes, so every quoted word is proofed (docs/design.md §7)."""
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
            "proof": {"rerolls": self.rerolls},
            "variables": {
                v.name: {
                    k: val
                    for k, val in (
                        ("required", v.required),
                        ("default", v.default),
                        ("max_length", v.max_length),
                        ("pattern", v.pattern),
                        ("format", v.format),
                    )
                    if val not in (None, False, "")
                }
                for v in self.variables.values()
            },
            "text": list(self.text),
        }


@cache
def _compiled(body: str) -> jinja2.Template:
    # Compiling costs milliseconds; a sheet renders the same few templates thousands of times.
    return _env().from_string(body)


FRONT_MATTER_KEYS = (
    "name",
    "kind",
    "mode",
    "description",
    "defaults",
    "variables",
    "text",
    "proof",
)
VARIABLE_KEYS = ("required", "default", "max_length", "pattern", "format", "description")
DEFAULTS_KEYS = ("quality", "size", "n")
PROOF_KEYS = ("rerolls",)
# A variable the prompt quotes, "{{ name }}" or “{{ name }}”: copy the image must show.
_QUOTED = re.compile(r'"([^"]*)"|“([^”]*)”')
_PRINTED = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _mapping(value: object, what: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A front matter mapping with only known keys: a misspelt key would be ignored in silence."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a mapping of {', '.join(allowed)}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown}; allowed: {', '.join(allowed)}")
    return value


def _variable(name: object, spec: object) -> Variable:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"variable {name!r}: names are lower case letters, digits and '_'")
    spec = _mapping(spec, f"variable {name}", VARIABLE_KEYS)
    max_length = spec.get("max_length")
    if max_length is not None and (type(max_length) is not int or max_length < 1):
        raise ValueError(f"variable {name}: max_length must be a whole number, 1 or more")
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ValueError(f"variable {name}: pattern {pattern!r} is not a regex: {exc}") from exc
    return Variable(
        name=name,
        required=spec.get("required", False) is True,
        default=None if spec.get("default") is None else str(spec["default"]),
        max_length=max_length,
        pattern=None if pattern is None else str(pattern),
        format=str(spec.get("format", "")),
        description=str(spec.get("description", "")),
    )


def _rerolls(proof: dict[str, Any]) -> int:
    rerolls = proof.get("rerolls", DEFAULT_REROLLS)
    if type(rerolls) is not int or not 0 <= rerolls <= MAX_REROLLS:
        raise ValueError(f"proof: rerolls must be a whole number, 0..{MAX_REROLLS}")
    return rerolls


def quoted_variables(body: str) -> list[str]:
    """The variables a template body prints inside double quotes, in order, once each."""
    names: dict[str, None] = {}
    for match in _QUOTED.finditer(body):
        for name in _PRINTED.findall(match[1] if match[1] is not None else match[2]):
            names[name] = None
    return list(names)


def parse_template(source: str, path: str = "") -> Template:
    import yaml
    from jinja2 import TemplateError

    label = path or "template"
    match = _FRONT_MATTER.match(source)
    if not match:
        raise TemplateFileError(f"{label}: expected YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match[1]) or {}
    except yaml.YAMLError as exc:
        raise TemplateFileError(f"{label}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise TemplateFileError(f"{label}: front matter must be a mapping of {FRONT_MATTER_KEYS}")
    body = match[2]
    where = path or str(meta.get("name", "?"))
    try:
        _mapping(meta, "front matter", FRONT_MATTER_KEYS)
        variables = {
            str(name): _variable(name, spec) for name, spec in _variables(meta.get("variables"))
        }
        defaults = _mapping(meta.get("defaults"), "defaults", DEFAULTS_KEYS)
        proof = _mapping(meta.get("proof"), "proof", PROOF_KEYS)
        text = meta.get("text") or []
        if not isinstance(text, list):
            raise ValueError("text must be a list of variable names, e.g. [headline, cta]")
        if meta.get("mode", "generate") not in list(Mode):
            raise ValueError(f"mode must be {' or '.join(Mode)}, not {meta['mode']!r}")
        template = Template(
            name=str(meta["name"]),
            kind=str(meta["kind"]),
            mode=Mode(meta.get("mode", "generate")),
            description=str(meta.get("description", "")),
            variables=variables,
            text=tuple(str(name) for name in text),
            body=body,
            version=hashlib.sha256(source.encode()).hexdigest()[:12],
            default_quality=Quality.parse(str(defaults.get("quality", "medium"))),
            default_size=Size.parse(str(defaults["size"])) if defaults.get("size") else None,
            default_n=parse_n(defaults.get("n", 1)),
            rerolls=_rerolls(proof),
            path=path,
        )
        undeclared = sorted(meta_variables(body) - set(variables))
    except KeyError as exc:
        raise TemplateFileError(f"{where}: front matter needs {exc}") from None
    except (TypeError, ValueError, InvalidInput, TemplateError) as exc:
        raise TemplateFileError(f"{where}: {exc}") from None
    if template.kind not in KINDS:
        raise TemplateFileError(f"{where}: kind must be one of {', '.join(KINDS)}")
    unknown = [name for name in template.text if name not in variables]
    if unknown:
        raise TemplateFileError(f"{where}: text names undeclared variables {unknown}")
    if undeclared:
        raise TemplateFileError(
            f"{where}: the body uses undeclared variables {undeclared}; declare them under "
            "variables"
        )
    unproofed = [name for name in quoted_variables(body) if name not in template.text]
    if unproofed:  # the prompt asks for these words in the image: they must be proofed
        raise TemplateFileError(
            f"{where}: the body quotes {unproofed} but text does not list them; every quoted "
            "variable is copy the image must show, so text must name it"
        )
    _try_render(template, where)
    return template


def _variables(value: object) -> list[tuple[object, object]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise ValueError("variables must be a mapping of names to their rules")
    return list(value.items())


def meta_variables(body: str) -> set[str]:
    """The names a template body reads: each must be declared."""
    import jinja2.meta

    return jinja2.meta.find_undeclared_variables(_env().parse(body))


def _try_render(template: Template, where: str) -> None:
    """Render once with sample values, so a body the sandbox refuses (e.g. reaching for
    `''.__class__`) is refused when the catalogue loads, not on a user's row."""
    from jinja2 import TemplateError

    sample = {name: name for name in template.variables}
    try:
        _compiled(template.body).render(sample)
    except TemplateError as exc:
        raise TemplateFileError(f"{where}: the body cannot be rendered: {exc}") from None


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
    return Path(__file__).resolve().parents[3] / "templates"


@cache
def default_catalogue() -> Catalogue:
    return Catalogue.load(templates_dir())
