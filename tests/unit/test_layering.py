"""The layout's rules (docs/design.md, "Layout and its rules"), checked by reading every import.

Each rule names a folder and the modules no file under it may import. Imports are read with
`ast`, so an import inside a function, under `if TYPE_CHECKING:`, relative (`from ..aws import
x`) or spelled `from placard import aws` counts as well; a failure names each file:line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"  # every function's CodeUri: what ships to Lambda
PLACARD = FUNCTIONS / "placard"


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # absolute and dotted, e.g. "placard.aws.ledger"


@dataclass(frozen=True)
class Rule:
    says: str
    under: Path
    forbidden: tuple[str, ...]  # a module and everything below it
    allowed: tuple[Path, ...] = ()  # files or folders under `under` the rule exempts
    except_modules: tuple[str, ...] = ()  # within `forbidden`, modules still allowed

    def applies_to(self, file: Path) -> bool:
        return not any(file == a or a in file.parents for a in self.allowed)

    def breaks(self, module: str) -> bool:
        return within(module, self.forbidden) and not within(module, self.except_modules)


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


RULES = (
    Rule(
        "nothing that ships to Lambda imports laptop-only code",
        FUNCTIONS,
        ("moto", "tqdm", "waitress", "placard_local"),
    ),
    Rule("the domain does no I/O", PLACARD / "domain", ("boto3", "botocore", "httpx", "PIL")),
    Rule(
        "the domain imports only the domain (arrows point inward)",
        PLACARD / "domain",
        ("placard", "handlers"),
        except_modules=("placard.domain",),
    ),
    Rule(
        "handlers reach adapters through bootstrap, never directly",
        FUNCTIONS / "handlers",
        ("placard.aws", "placard.providers", "boto3", "botocore"),
    ),
    Rule(
        "only the AWS adapters and bootstrap (which makes the clients) import the AWS SDK",
        FUNCTIONS,
        ("boto3", "botocore"),
        allowed=(PLACARD / "aws", PLACARD / "bootstrap.py"),
    ),
    Rule(
        "only the reader imports the OCR engine, so only the proof function carries it",
        FUNCTIONS,
        ("onnxruntime", "numpy", "rapidocr", "cv2"),
        allowed=(PLACARD / "proofing" / "reader.py",),
    ),
    Rule(
        "proofing reaches storage through ports, and judging needs no pixels",
        PLACARD / "proofing",
        ("boto3", "botocore", "httpx", "placard.aws", "PIL"),
        allowed=(PLACARD / "proofing" / "reader.py",),
    ),
)


def module_name(file: Path, root: Path) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache  # every rule reads the same files
def imports_of(file: Path, root: Path) -> tuple[Import, ...]:
    """Every module `file` imports, resolved against `root` (the folder on sys.path)."""
    return tuple(_imports(file, root))


def _imports(file: Path, root: Path) -> Iterator[Import]:
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = module_name(file, root).split(".")
    if file.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, *([node.module] if node.module else [])])
            yield Import(file, node.lineno, stem)
            for alias in node.names:  # `from placard import aws` imports placard.aws
                yield Import(file, node.lineno, f"{stem}.{alias.name}")
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in {"importlib.import_module", "import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield Import(file, node.lineno, node.args[0].value)


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def violations(rule: Rule, root: Path = FUNCTIONS) -> list[str]:
    found: dict[tuple[Path, int], str] = {}  # one per line: `from X import Y` names X, or X.Y
    for file in python_files(rule.under):
        if not rule.applies_to(file):
            continue
        for imported in imports_of(file, root):
            if rule.breaks(imported.module):
                found.setdefault((file.relative_to(root.parent), imported.line), imported.module)
    return [f"{where}:{line} imports {module}" for (where, line), module in sorted(found.items())]


@pytest.mark.parametrize("rule", RULES, ids=[r.says for r in RULES])
def test_the_code_keeps_the_layout_rule(rule: Rule) -> None:
    # Given the rule's folder, which holds code (a moved folder must not pass by being empty)
    assert python_files(rule.under), f"{rule.under} holds no Python files"
    # When every import under it is read, Then none is one the rule forbids
    assert violations(rule) == [], f"{rule.says}:\n" + "\n".join(violations(rule))


def test_a_broken_rule_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    # Given a copy of the layout whose domain and handlers import what they must not, in each
    # of the spellings Python allows
    domain = tmp_path / "functions" / "placard" / "domain"
    handlers = tmp_path / "functions" / "handlers"
    domain.mkdir(parents=True)
    handlers.mkdir()
    (tmp_path / "functions" / "placard" / "aws").mkdir()
    (domain / "__init__.py").write_text("")
    (domain / "jobs.py").write_text(
        "import json\n"
        "from PIL import Image\n"
        "def later():\n"
        "    import httpx.client\n"
        "from ..aws import ledger\n"
    )
    (handlers / "worker.py").write_text(
        "from placard import aws, bootstrap\n"
        "import importlib\n"
        "importlib.import_module('placard_local.cloud')\n"
    )
    root = tmp_path / "functions"
    placard = root / "placard"
    # When the rules read that copy
    domain_io = Rule("no I/O", placard / "domain", ("boto3", "botocore", "httpx", "PIL"))
    inward = Rule("inward", placard / "domain", ("placard",), except_modules=("placard.domain",))
    thin = Rule("thin", handlers, ("placard.aws",))
    laptop = Rule("laptop", root, ("placard_local",))
    # Then each offending import is named with its file and line, and no other is
    assert violations(domain_io, root) == [
        "functions/placard/domain/jobs.py:2 imports PIL",
        "functions/placard/domain/jobs.py:4 imports httpx.client",
    ]
    assert violations(inward, root) == ["functions/placard/domain/jobs.py:5 imports placard.aws"]
    assert violations(thin, root) == ["functions/handlers/worker.py:1 imports placard.aws"]
    assert violations(laptop, root) == [
        "functions/handlers/worker.py:3 imports placard_local.cloud"
    ]


def test_an_exempt_file_is_not_held_to_the_rule(tmp_path: Path) -> None:
    # Given two files that import boto3, one of them the rule's exemption
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "ledger.py").write_text("import boto3\n")
    (tmp_path / "services.py").write_text("import boto3\n")
    rule = Rule("sdk", tmp_path, ("boto3",), allowed=(tmp_path / "aws",))
    # When the rule reads them, Then only the other file is named
    assert violations(rule, tmp_path) == [f"{tmp_path.name}/services.py:1 imports boto3"]
