"""A report's working set on disk (/tmp on Lambda), so a 100,000-row upload is never held in
memory: the campaign's ledger items by job, each job's first row, and each row's card.

Why a join on disk: the ledger's sort key is IMAGE#<job>#<image>[#<attempt>] (domain/keys.py),
so a query returns each job's items together, but in job-id order, not the sheet's; and a
call set aside (IMAGE#LOST#<job>...) sorts apart from its job. The sheet's order cannot be
the key's: a job is made once for every row that repeats it. So the ledger is read page by
page into SQLite (stdlib, on Lambda too), indexed by job, and the sheet is then read in its
own order, each row fetching its job's items.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from placard.domain.ledger_items import LedgerItem

if sys.platform != "win32":
    import fcntl

BATCH = 1000  # rows a write sends SQLite at once
PREFIX = "placard-report-"
IN_USE = "in-use"  # the file a spool in use holds a lock on
MAKING_SECONDS = 60.0  # a spool without IN_USE younger than this is being made


class Spool:
    def __init__(self, folder: str | None = None) -> None:
        _clear_abandoned(Path(folder or tempfile.gettempdir()))
        self._dir = tempfile.TemporaryDirectory(prefix=PREFIX, dir=folder)
        self.folder = Path(self._dir.name)
        # Locked before it takes its name: another spool's clean-up never finds it unlocked
        self._in_use = (self.folder / f"{IN_USE}.new").open("w")
        _lock(self._in_use)
        (self.folder / f"{IN_USE}.new").rename(self.folder / IN_USE)
        self._db = sqlite3.connect(self.folder / "report.sqlite3")
        # A scratch file, deleted afterwards: no journal, no fsync
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            PRAGMA cache_size = -32768;
            CREATE TABLE items (job TEXT NOT NULL, item BLOB NOT NULL);
            CREATE TABLE firsts (job TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE cards (seq INTEGER PRIMARY KEY, html TEXT NOT NULL);
            -- apart from the cards: a filter's pages read its own, not every card's text
            CREATE TABLE filtered (filter TEXT, seq INTEGER, PRIMARY KEY (filter, seq))
                WITHOUT ROWID;
            """
        )
        self._indexed = False
        self._cards = 0

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._in_use.close()
        self._dir.cleanup()

    # --------------------------------------------------------------------------- ledger

    def keep_items(self, items: Iterable[LedgerItem]) -> int:
        """Store items as they come (a ledger read page by page); how many were stored."""
        count = 0

        def rows() -> Iterator[tuple[str, bytes]]:  # SQLite takes them one at a time
            nonlocal count
            for item in items:
                count += 1
                yield item.job_id, pickle.dumps(item, pickle.HIGHEST_PROTOCOL)

        self._db.executemany("INSERT INTO items VALUES (?, ?)", rows())
        self._db.commit()
        return count

    def items(self, job_id: str) -> list[LedgerItem]:
        """The job's items in the order they were stored (the ledger's key order)."""
        if not self._indexed:  # built once, after the bulk load: faster than while inserting
            self._db.execute("CREATE INDEX items_by_job ON items (job)")
            self._indexed = True
        found = self._db.execute("SELECT item FROM items WHERE job = ? ORDER BY rowid", (job_id,))
        return [pickle.loads(blob) for (blob,) in found]  # noqa: S301 (ours)

    def first_row(self, job_id: str, row: int) -> int:
        """The first row, in the order asked, that named this job: `row` itself the first time."""
        self._db.execute("INSERT OR IGNORE INTO firsts VALUES (?, ?)", (job_id, row))
        (first,) = self._db.execute("SELECT row FROM firsts WHERE job = ?", (job_id,)).fetchone()
        return int(first)

    # --------------------------------------------------------------------------- cards

    def add_card(self, filters: Iterable[str], html: str) -> None:
        """A card in the order of adding, with the ids of the filters it belongs to."""
        self._cards += 1
        self._db.execute("INSERT INTO cards VALUES (?, ?)", (self._cards, html))
        self._db.executemany(
            "INSERT INTO filtered VALUES (?, ?)", ((f, self._cards) for f in filters)
        )
        if self._cards % BATCH == 0:
            self._db.commit()

    def cards(self, filter_id: str) -> Iterator[str]:
        """The filter's cards in the order they were added, read a few at a time."""
        self._db.commit()
        found = self._db.execute(
            "SELECT html FROM filtered JOIN cards USING (seq) WHERE filter = ? ORDER BY seq",
            (filter_id,),
        )
        while batch := found.fetchmany(100):
            yield from (html for (html,) in batch)

    def size(self) -> int:
        """Bytes on disk now (Lambda's /tmp holds 512 MB unless the function asks for more)."""
        return sum(f.stat().st_size for f in self.folder.iterdir())


def _clear_abandoned(folder: Path) -> None:
    """Delete the spools a report left when it died: Lambda keeps /tmp for the next
    invocation of the same environment after a timeout, and a 100,000-row spool is 670 MiB,
    so three would fill it. A spool in use holds a lock on its IN_USE file, which goes with
    the process that held it. One without that file is being made, and is left alone for
    MAKING_SECONDS (its lock file takes the name in an instant); after that, one whose
    unnamed lock file nobody holds was left by a report that died in that instant."""
    for spool in folder.glob(PREFIX + "*"):
        try:
            named = (spool / IN_USE).exists()
            if not named and time.time() - spool.stat().st_mtime < MAKING_SECONDS:
                continue  # being made
            if _held(spool / (IN_USE if named else f"{IN_USE}.new")):
                continue  # in use
            if named or not (spool / IN_USE).exists():  # not named since we looked
                shutil.rmtree(spool, ignore_errors=True)
        except (FileNotFoundError, NotADirectoryError):
            continue


def _held(lock_file: Path) -> bool:
    """Whether a live process holds the file's lock; a file that is not there is not held."""
    try:
        with lock_file.open() as file:
            return not _lock(file)
    except FileNotFoundError:
        return False


def _lock(file: IO[str]) -> bool:
    """Take the file's lock, without waiting; False when another holds it. Windows has no
    such lock: its spools are never cleared by another (TemporaryDirectory's own is all)."""
    if sys.platform == "win32":
        return False
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
