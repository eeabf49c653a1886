"""A report's spool left behind by a process that died is deleted by the next report, as on
a Lambda environment whose invocation timed out (/tmp is kept, and a 100,000-row spool is
670 MiB); a spool in use, in this process or another, is never touched."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from placard.reporting.spool import IN_USE, MAKING_SECONDS, PREFIX, Spool

MAKE_AND_DIE = """
import os, sys
from placard.reporting.spool import Spool
spool = Spool(sys.argv[1])
(spool.folder / "report.sqlite3").write_bytes(b"x" * 1000)
print(spool.folder, flush=True)
os._exit(1)  # killed: no cleanup, as a Lambda timeout leaves it
"""

HOLD = """
import os, sys
from placard.reporting.spool import Spool
spool = Spool(sys.argv[1])
print(spool.folder, flush=True)
sys.stdin.read()  # in use until told, then killed
os._exit(0)
"""


def test_a_spool_left_by_a_dead_report_is_deleted_by_the_next(tmp_path: Path) -> None:
    # Given a report that died with its spool on disk
    died = subprocess.run(
        [sys.executable, "-c", MAKE_AND_DIE, str(tmp_path)], capture_output=True, text=True
    )
    left = Path(died.stdout.strip())
    assert died.returncode == 1 and left.is_dir() and left.name.startswith(PREFIX)
    # When the next report makes its spool
    with Spool(str(tmp_path)) as spool:
        # Then the dead one's is gone, and its own is there
        assert not left.exists()
        assert [p.name for p in tmp_path.iterdir()] == [spool.folder.name]
    assert list(tmp_path.iterdir()) == []


def test_spools_in_use_are_left_alone(tmp_path: Path) -> None:
    # Given a spool in use in another process, one in this process, and one being made
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert other.stdout is not None
    theirs = Path(other.stdout.readline().strip())
    being_made = tmp_path / f"{PREFIX}new"
    being_made.mkdir()
    try:
        # When another report makes its spool beside them (`third`, after `ours`)
        with Spool(str(tmp_path)) as ours, Spool(str(tmp_path)) as third:
            # Then every one of them is still there
            assert theirs.is_dir() and (theirs / IN_USE).exists()
            assert ours.folder.is_dir() and third.folder.is_dir() and being_made.is_dir()
    finally:
        other.communicate("")
    # And once the other process ended, its spool is the next report's to clear
    with Spool(str(tmp_path)):
        assert not theirs.exists()


def test_spools_made_at_once_leave_each_other_alone(tmp_path: Path) -> None:
    # Given sixteen reports making their spools at the same moment, 20 times over
    failures: list[str] = []
    start = threading.Barrier(16)

    def report() -> None:
        start.wait()
        try:
            for _ in range(20):
                with Spool(str(tmp_path)) as spool:
                    spool.add_card(["all"], "<article></article>")
                    assert list(spool.cards("all")) == ["<article></article>"]
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=report) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then none took another's for abandoned, and none is left behind
    assert failures == []
    assert list(tmp_path.iterdir()) == []


def test_a_spool_whose_report_died_before_naming_its_lock_file_is_deleted(
    tmp_path: Path,
) -> None:
    # Given spools without a named lock file: one left a minute ago by a report that died
    # before naming it, one as old whose maker still holds its lock, and one being made now
    def spool(name: str, age: float) -> Path:
        folder = tmp_path / f"{PREFIX}{name}"
        folder.mkdir()
        (folder / f"{IN_USE}.new").touch()
        then = time.time() - age
        os.utime(folder, (then, then))
        return folder

    died = spool("died", MAKING_SECONDS + 1)
    stalled = spool("stalled", MAKING_SECONDS + 1)
    being_made = spool("made-now", 0)
    with (stalled / f"{IN_USE}.new").open() as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        # When the next report makes its spool
        with Spool(str(tmp_path)):
            # Then the dead one's is gone, the held one and the one being made are left
            assert not died.exists()
            assert stalled.is_dir() and being_made.is_dir()
