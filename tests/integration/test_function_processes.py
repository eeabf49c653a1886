"""Background functions in processes of their own, at a lower CPU priority."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from placard.domain.errors import PlacardError
from placard_local.cloud import FunctionProcesses
from placard_local.function_process import NICENESS
from placard_local.stack import Function


def probe(handler: str, timeout: int = 30) -> FunctionProcesses:
    path = f"tests.integration.function_probe.{handler}"
    function = Function("Probe", path, {}, (), timeout, True)
    return FunctionProcesses(function)


def test_an_invocation_runs_in_another_process_at_a_lower_priority() -> None:
    # Given a background function
    processes = probe("where")
    try:
        # When it is invoked
        reply = processes.invoke({"n": 1})
    finally:
        processes.close()
    # Then it answered from a process of its own, niced, with the event and its name
    assert reply["pid"] != os.getpid()
    assert reply["niceness"] == min(19, os.nice(0) + NICENESS)
    assert reply["event"] == {"n": 1} and reply["name"] == "Probe"


def test_concurrent_invocations_get_a_process_each_and_reuse_them() -> None:
    # Given a background function invoked by two callers at once, three times each
    processes = probe("where")
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            replies = list(pool.map(processes.invoke, [{"n": i} for i in range(6)]))
    finally:
        processes.close()
    # Then every event was answered, by at most two processes (started once, then reused)
    assert sorted(r["event"]["n"] for r in replies) == list(range(6))
    assert 1 <= len({r["pid"] for r in replies}) <= 2


def test_a_handler_error_is_raised_in_the_caller_and_the_process_goes_on() -> None:
    # Given a background function whose handler raises, and prints on standard output
    processes = probe("fails")
    try:
        # When it is invoked twice
        with pytest.raises(PlacardError, match="Probe: ValueError: cannot handle 1"):
            processes.invoke({"n": 1})
        # Then each call raises its own error: the print did not end up in the replies
        with pytest.raises(PlacardError, match="cannot handle 2"):
            processes.invoke({"n": 2})
    finally:
        processes.close()


def test_a_process_that_dies_fails_its_invocation_and_the_next_gets_a_new_one() -> None:
    # Given a background function whose process exits without answering
    processes = probe("exits")
    try:
        # When it is invoked twice
        for _ in range(2):
            # Then each invocation fails with the exit code, and none waits forever
            with pytest.raises(PlacardError, match="Probe's process ended, exit code 3"):
                processes.invoke({"n": 1})
    finally:
        processes.close()


def test_metrics_stay_off_the_terminal_in_a_background_function_too(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a background function that adds a metric on each invocation, metrics off as the
    # local cloud turns them off
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    processes = probe("counts")
    try:
        # When it is invoked past the 100 values Powertools prints a metric at
        replies = [processes.invoke({"n": n}) for n in range(150)]
    finally:
        processes.close()
    # Then every invocation answered and nothing of the metrics reached the terminal
    assert [reply["n"] for reply in replies] == list(range(150))
    assert "CloudWatchMetrics" not in capfd.readouterr().err


def test_an_invocation_past_the_timeout_is_stopped_and_the_next_gets_a_new_process() -> None:
    # Given a background function with a timeout of 1 s
    processes = probe("sleeps", timeout=1)
    try:
        # When an invocation runs past it
        with pytest.raises(PlacardError, match="Probe timed out after 1 seconds"):
            processes.invoke({"seconds": 60})
        # Then it failed as Lambda fails it, and the next invocation is answered
        assert processes.invoke({"seconds": 0}) == {"slept": 0}
    finally:
        processes.close()


def test_a_slow_init_is_not_counted_against_the_invocations_timeout() -> None:
    # Given a function with a timeout of 1 s whose module takes 1.5 s to import
    function = Function("Probe", "tests.integration.slow_init_probe.handler", {}, (), 1, True)
    processes = FunctionProcesses(function)
    try:
        # When it is invoked cold
        reply = processes.invoke({})
        # Then init ran before the Timeout started, as on Lambda, and the event was answered
        assert reply == {"answered": True}
    finally:
        processes.close()
