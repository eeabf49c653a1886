"""Settings are checked at cold start: a missing or malformed variable fails a function's init
naming it, instead of surfacing later as a boto error on a bucket called ""."""

from __future__ import annotations

import os

import pytest

from placard.settings import REQUIRED, Settings, SettingsError
from placard_local.stack import Stack
from tests.conftest import ROOT, in_new_interpreter, template_environment

# Every function's handler module in template.yaml: "api", "worker", ...
HANDLERS = tuple(
    sorted(f.handler.split(".")[1] for f in Stack.load(ROOT / "template.yaml").functions().values())
)


def given() -> dict[str, str]:
    """The environment template.yaml gives every function."""
    return template_environment()


def test_the_templates_environment_is_read_whole() -> None:
    env = given()
    settings = Settings.from_env(env)
    assert settings.assets_bucket == env["ASSETS_BUCKET"]
    assert settings.jobs_queue_url == env["JOBS_QUEUE_URL"]
    assert settings.idempotency_table == env["IDEMPOTENCY_TABLE"]
    assert settings.job_max_receives == int(env["JOBS_MAX_RECEIVES"])
    assert settings.http_read_timeout == float(env["PLACARD_HTTP_READ_TIMEOUT"])


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_a_required_variable_missing_or_empty_is_named(name: str, value: str | None) -> None:
    # Given the template's environment without one resource's name
    env = given()
    if value is None:
        del env[name]
    else:
        env[name] = value
    # When it is read, Then the error names that variable, and only it
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == f"{name} is not set"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("JOBS_MAX_RECEIVES", "five", "JOBS_MAX_RECEIVES is not a whole number: 'five'"),
        ("JOBS_MAX_RECEIVES", "2.5", "JOBS_MAX_RECEIVES is not a whole number: '2.5'"),
        ("JOBS_MAX_RECEIVES", "0", "JOBS_MAX_RECEIVES must be more than 0: '0'"),
        (
            "PLACARD_HTTP_READ_TIMEOUT",
            "2 minutes",
            "PLACARD_HTTP_READ_TIMEOUT is not a number of seconds: '2 minutes'",
        ),
        (
            "PLACARD_HTTP_READ_TIMEOUT",
            "nan",
            "PLACARD_HTTP_READ_TIMEOUT must be more than 0: 'nan'",
        ),
        ("PLACARD_HTTP_READ_TIMEOUT", "-1", "PLACARD_HTTP_READ_TIMEOUT must be more than 0: '-1'"),
        (
            "PLACARD_ALLOW_LOOPBACK_CALLBACKS",
            "true",
            "PLACARD_ALLOW_LOOPBACK_CALLBACKS is 0 or 1, not 'true'",
        ),
        (
            "PLACARD_PROVIDER",
            "dall-e",
            "PLACARD_PROVIDER 'dall-e' is not a provider; use one of draft, openai, prospolabs",
        ),
    ],
)
def test_a_malformed_value_is_named_with_the_value(name: str, value: str, said: str) -> None:
    env = {**given(), name: value}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == said


def test_the_reseller_needs_its_address() -> None:
    env = {**given(), "PLACARD_PROVIDER": "prospolabs", "PROSPOLABS_BASE_URL": ""}
    with pytest.raises(SettingsError, match="PROSPOLABS_BASE_URL is not set"):
        Settings.from_env(env)
    env["PROSPOLABS_BASE_URL"] = "https://reseller.example/api"
    assert Settings.from_env(env).provider == "prospolabs"


def test_every_problem_is_named_at_once() -> None:
    # Given two missing names and a malformed number
    env = {**given(), "JOBS_MAX_RECEIVES": "many"}
    del env["LEDGER_TABLE"], env["CALLBACKS_QUEUE_URL"]
    # Then one error names all three, so one failed deploy shows them all
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == (
        "LEDGER_TABLE is not set; CALLBACKS_QUEUE_URL is not set; "
        "JOBS_MAX_RECEIVES is not a whole number: 'many'"
    )


def test_optional_variables_fall_back_to_their_defaults() -> None:
    env = {name: given()[name] for name in REQUIRED}
    settings = Settings.from_env(env)
    assert settings.provider == "draft"
    assert settings.job_max_receives == 5
    assert settings.http_read_timeout == 180.0
    assert settings.secret_name == ""
    assert settings.allow_loopback_callbacks is False


# A fresh interpreter per run, with only functions/ on its path: a Lambda container's init.
IMPORT_EACH = """
import importlib, json, sys
said = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module("handlers." + name)
        said[name] = ""
    except Exception as exc:
        said[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(said))
"""


def cold_starts(env: dict[str, str]) -> dict[str, str]:
    """What each handler module's import raised (empty when it imported), in a new process."""
    keep = {k: v for k, v in os.environ.items() if k not in given()}
    said: dict[str, str] = in_new_interpreter(IMPORT_EACH, *HANDLERS, env={**keep, **env})
    return said


@pytest.fixture(scope="module")
def broken_starts() -> dict[str, str]:
    env = {**given(), "JOBS_MAX_RECEIVES": "five"}
    del env["ASSETS_BUCKET"]
    return cold_starts(env)


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_cold_start_without_a_variable_fails_naming_it(
    handler: str, broken_starts: dict[str, str]
) -> None:
    # Given a function whose environment lacks ASSETS_BUCKET and has a malformed number
    # When its handler module is imported (Lambda's init), Then the init fails naming both
    assert broken_starts[handler] == (
        "SettingsError: ASSETS_BUCKET is not set; JOBS_MAX_RECEIVES is not a whole number: 'five'"
    )


def test_a_cold_start_with_the_templates_environment_succeeds() -> None:
    assert cold_starts(given()) == dict.fromkeys(HANDLERS, "")


# Each handler imported as its container's init is: with the collector paused, as importing
# the package leaves it. What the collector's state is after each.
COLLECTOR_AFTER_EACH = """
import gc, importlib, json, sys
import handlers
said = {"handlers": gc.isenabled()}
for name in sys.argv[1:]:
    gc.disable()
    frozen = gc.get_freeze_count()
    importlib.import_module("handlers." + name)
    said[name] = gc.isenabled() and gc.get_freeze_count() > frozen
print(json.dumps(said))
"""


def test_a_cold_start_pauses_the_collector_and_every_handler_starts_it_again() -> None:
    # Given the template's environment, in a new interpreter
    # When the package is imported, then each handler module in turn
    said = in_new_interpreter(COLLECTOR_AFTER_EACH, *HANDLERS, env={**os.environ, **given()})
    # Then the package paused the collector, and each import ended running it again, with
    # what it made frozen
    assert said == {"handlers": False, **dict.fromkeys(HANDLERS, True)}
