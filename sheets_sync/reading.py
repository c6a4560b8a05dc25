"""Read and parse every unit's workbook: unchanged ones from the run log's cache, the rest in parallel when many.

A workbook is served from the cache only when its backend vouches that it is the very file read before (an
`identity`: for a local file its path, size, modification and change times, inode and device, refused while a
save could still land in the same clock tick) and the code that read it is the same (READER_VERSION). What is
cached is the parsed unit before validation, alignment and scoring, which every run computes afresh.
Above PARALLEL_THRESHOLD workbooks, those not cached are read and parsed by a process pool sized to the machine;
results come back in listing order, so a parallel run equals a serial one.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import pickle
import secrets
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .core import parse, schema
from .core.model import RawWorkbook
from .errors import OkrSyncError

if TYPE_CHECKING:
    from .backends.base import Backend

# Fewer workbooks than this are read in this process: starting workers costs more than it saves.
PARALLEL_THRESHOLD = 48
# Results are stored in the cache in batches, so memory never holds every workbook's bytes at once.
STORE_BATCH = 256


class ReadCache(Protocol):
    """Parsed workbooks kept between runs (the operations layer keeps them in the run log)."""

    def cached(self, wanted: list[tuple[str, str]]) -> dict[str, bytes]:
        """For (locator, identity) pairs: the stored blob of each locator whose identity is unchanged."""
        ...

    def keep(self, entries: list[tuple[str, str, bytes]]) -> None:
        """Store (locator, identity, blob) entries, replacing earlier ones of the same locators."""
        ...


@dataclass
class Outcome:
    """One listed workbook, read: a parsed unit, a data workbook (not a unit), or an error line."""

    locator: str
    unit: parse.Unit | None = None
    skipped: str | None = None  # the source of a workbook that is not a unit
    error: str | None = None
    display: str = ""


_version: str | None = None


def reader_version() -> str:
    """A digest of the code that turns a file into a parsed unit: any change to it empties the cache."""
    global _version
    if _version is None:
        root = Path(__file__).parent
        digest = hashlib.sha256()
        for path in sorted([*root.glob("core/*.py"), *root.glob("backends/*.py"), root / "reading.py"]):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _version = digest.hexdigest()[:16]
    return _version


_key: bytes | None = None


def cache_key() -> bytes:
    """The key that signs cache entries, kept where only the service's account can read it (0600).

    The run log sits in the units folder, which people may be able to write; a signed entry means nothing they
    put there is ever unpickled. OKR_SYNC_CACHE_KEY_FILE names another place for the key.
    """
    global _key
    if _key is None:
        from .errorlog import path as error_log

        where = Path(os.environ.get("OKR_SYNC_CACHE_KEY_FILE") or error_log().with_name("cache.key"))
        try:
            _key = where.read_bytes()
        except OSError:
            _key = b""
        if len(_key) < 32:
            _key = secrets.token_bytes(32)
            try:
                where.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(_key)
            except OSError:
                pass  # a key for this process only: the cache still works, entries just do not outlive it
    return _key


def _encode(outcome: Outcome) -> bytes:
    blob = zlib.compress(pickle.dumps((outcome.unit, outcome.skipped), protocol=pickle.HIGHEST_PROTOCOL), 1)
    return hmac.new(cache_key(), blob, hashlib.sha256).digest() + blob


def _decode(locator: str, display: str, signed: bytes) -> Outcome | None:
    mac, blob = signed[:32], signed[32:]
    if not hmac.compare_digest(mac, hmac.new(cache_key(), blob, hashlib.sha256).digest()):
        return None  # not written by this service: read the workbook instead
    try:
        unit, skipped = pickle.loads(zlib.decompress(blob))  # noqa: S301 - signed by this service's own key
    except Exception:  # noqa: BLE001 - a damaged entry is only a cache miss
        return None
    return Outcome(locator, unit=unit, skipped=skipped, display=display)


def read_one(backend: Backend, locator: str, display: str) -> tuple[Outcome, bytes | None]:
    """Read and parse one workbook; never raises. The blob is what the cache keeps (None for an error)."""
    try:
        raw = backend.read(locator)
    except OkrSyncError as exc:
        return Outcome(locator, error=str(exc), display=display), None
    except Exception as exc:  # noqa: BLE001 - one bad unit never stops the others
        return Outcome(locator, error=f"{display}: could not be read ({exc.__class__.__name__}: {exc})",
                       display=display), None
    if is_unit_workbook(raw):
        outcome = Outcome(locator, unit=parse.read_unit(raw), display=display)
    else:
        outcome = Outcome(locator, skipped=raw.source, display=display)
    return outcome, _encode(outcome)


def _read_in_worker(job: tuple[Backend, str, str]) -> tuple[bytes | None, str | None]:
    """In a worker: the blob of a read (decoded by the parent), or the error line."""
    outcome, blob = read_one(*job)
    return blob, outcome.error


def without_cells(raw: RawWorkbook) -> RawWorkbook:
    """A read workbook without its grids (what a unit needs once its cells are planned); a People sheet stays,
    as the company's people list is read from it after every unit is read."""
    people = schema.match_sheet(list(raw.sheets), schema.SHEET_PEOPLE)
    return replace(raw, sheets={people: raw.sheets[people]} if people is not None else {})


def is_unit_workbook(raw: RawWorkbook) -> bool:
    """A workbook with a Settings or an OKRs sheet is a unit (perhaps a broken one); others are data."""
    return any(schema.match_sheet(raw.sheet_names, sheet) for sheet in (schema.SHEET_SETTINGS, schema.SHEET_OKRS))


def workers_for(count: int) -> int:
    """How many processes read `count` workbooks: one per core, none below the threshold."""
    cores = os.cpu_count() or 1
    if count < PARALLEL_THRESHOLD or cores < 2:
        return 0
    return min(cores, max(2, count // (PARALLEL_THRESHOLD // 2)))


def read_all(
    locators: list[tuple[Backend, str, str]],
    cache: ReadCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    workers: int | None = None,
    keep_cells: bool = True,
) -> Iterator[Outcome]:
    """Every listed (backend, locator, display name), read, in listing order; progress is told of each.

    Without keep_cells (a rollup, a validation: no cell is planned) each unit comes without its grids, so memory
    holds the company's parsed rows but not its cells.
    """
    total = len(locators)
    identities: list[str | None] = []
    for backend, locator, _ in locators:
        identify = getattr(backend, "identity", None)
        ident = identify(locator) if identify is not None else None
        identities.append(f"{ident}|{reader_version()}" if ident else None)
    hits: dict[str, bytes] = {}
    if cache is not None:
        hits = cache.cached([(loc, ident) for (_, loc, _), ident in zip(locators, identities, strict=True)
                             if ident])
    # What the cache cannot serve is read: in a pool when many and the backend can be sent to a worker.
    misses = [i for i, (_, loc, _) in enumerate(locators) if loc not in hits]
    parallel = [i for i in misses if getattr(locators[i][0], "parallel_reads", False)]
    count = workers if workers is not None else workers_for(len(parallel))
    pending: list[tuple[str, str, bytes]] = []

    def keep(index: int, blob: bytes | None) -> None:
        ident = identities[index]
        if cache is not None and blob is not None and ident:
            pending.append((locators[index][1], ident, blob))
            if len(pending) >= STORE_BATCH:
                cache.keep(pending)
                pending.clear()

    pooled: Iterator[tuple[bytes | None, str | None]] = iter(())
    pool: ProcessPoolExecutor | None = None
    if count > 1 and len(parallel) > 1:
        cache_key()  # made before the fork, so every worker signs with the same key
        pool = ProcessPoolExecutor(max_workers=count, mp_context=_context())
        chunk = max(1, min(16, len(parallel) // (count * 4)))
        pooled = pool.map(_read_in_worker, [locators[i] for i in parallel], chunksize=chunk)
    in_pool = set(parallel) if pool is not None else set()
    try:
        for index, (backend, locator, display) in enumerate(locators):
            outcome: Outcome | None = None
            if locator in hits:
                outcome = _decode(locator, display, hits[locator])
            if outcome is None and index in in_pool:
                try:
                    blob, error = next(pooled)
                except Exception:  # noqa: BLE001 - a worker died: this process reads the rest itself
                    in_pool.clear()
                    blob, error = None, None
                outcome = Outcome(locator, error=error, display=display) if error is not None else \
                    _decode(locator, display, blob) if blob is not None else None
                if outcome is None:
                    outcome, blob = read_one(backend, locator, display)
                keep(index, blob)
            elif outcome is None:
                outcome, blob = read_one(backend, locator, display)
                keep(index, blob)
            if progress:
                progress(index + 1, total, outcome.unit.source if outcome.unit else outcome.skipped or display)
            if not keep_cells and outcome.unit is not None:
                outcome.unit.raw = without_cells(outcome.unit.raw)
            yield outcome
        if cache is not None and pending:
            cache.keep(pending)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _context() -> multiprocessing.context.BaseContext:
    # fork where there is one: workers start at once with everything imported, and never re-run the caller's
    # main module (spawn would, and fail under any script without a __main__ guard). They only read files.
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")
