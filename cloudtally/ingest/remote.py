"""Billing exports in an object store: `cloudtally ingest s3://bucket/cur/` (or `gs://`,
`abfss://`, `az://`), where the clouds deliver them.

An object-store folder is mirrored into a local work folder for the command: every object
whose name a billing file can have becomes an empty placeholder there and every report
manifest is fetched whole, so that the folder is read (`source.discover`) exactly as a local
copy of it would be, latest delivery and all; then only the files it finds are fetched, each
streamed to disk (never held in memory) with the progress shown, and not even those when the
lake's manifest recorded the very object (its URI, size and ETag) as a source
it holds: a daily `ingest s3://billing/cur/` fetches what is new. Converters and checks read
those copies; everything the user sees or the lake records (messages, the summary, the
manifest's source paths, `x_SourceFile`) names the object's URI, not the copy. On Spark the
executors read the objects themselves (`origin_of`), so a cluster needs no shared mount, and
an export whose converter needs only its header here (`Converter.header_only`: all but a
mapped bill, OpenCost's JSON and a Contract Commitment file) is not fetched whole: the driver reads its ends (`fetch_ends`) and the executors hash it
(ingest/pipeline.py `_hashed_where_they_are`).

The work folder is `$CLOUDTALLY_CACHE_DIR/sources/<host>~<pid>-<random>`, deleted when the
command ends (or, after a process that was killed, by the next command on that host that makes
one). An object whose
key cannot be a file's name there (a `..`, `.` or empty part) is skipped and named, never
written outside it. Credentials and endpoints are each filesystem's usual settings, as for a lake in an
object store (store/objects.py).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from cloudtally.errors import CloudtallyError, IngestError, UnsupportedError
from cloudtally.ingest.formats.aws_manifest import PARENT_LEVELS, is_manifest
from cloudtally.ingest.source import DATA_SUFFIXES, SourceFile
from cloudtally.progress import Reporter
from cloudtally.store.catalog import ManifestEntry
from cloudtally.store.objects import SCHEMES, cache_root, lake_uri, object_filesystem, version_of

# The object-store sources of the running command.
_ACTIVE: ContextVar[RemoteSources | None] = ContextVar("cloudtally_sources", default=None)

# (URI, ETag, size) -> (sha256, format) of an object the lake recorded
History = dict[tuple[str, str, int], tuple[str, str]]

# On Spark an export need not pass through this machine (`fetch_ends`): the first HEAD_BYTES
# (its header line) and the last TAIL_BYTES (a Parquet file's footer, or as much of it as it
# needs) are all the driver reads. An object of PARTIAL_FROM bytes or fewer is fetched whole.
HEAD_BYTES = 1 << 16
TAIL_BYTES = 1 << 16
PARTIAL_FROM = 1 << 18
# A header line longer than the head (a CUR with thousands of tag columns) is read with a head
# this long (`source.inspect` reads a first line of up to 1 MiB), else the object is fetched.
LONG_HEAD_BYTES = 1 << 21


def origin_of(path: Path | str) -> str | None:
    """The object-store URI a local copy of a source was fetched from, None for a file that
    is where it was given."""
    active = _ACTIVE.get()
    return active.origins.get(str(path)) if active else None


def etag_of(path: Path | str) -> str:
    """The ETag the object a local copy was fetched from had when listed (store/objects.py
    `version_of`: what changes when the object is written again)."""
    active = _ACTIVE.get()
    return active.etags.get(str(path), "") if active else ""


def is_remote(path: Path | str) -> bool:
    found = lake_uri(str(path))
    return found is not None and found[0] != "file"


class RemoteSources:
    """The local copies of the object-store sources of one command."""

    def __init__(self) -> None:
        self.root: Path | None = None  # the work folder, made for the first URI
        self.origins: dict[str, str] = {}  # local copy -> the object's URI
        self.etags: dict[str, str] = {}  # local copy -> the object's ETag when listed
        self._objects: dict[Path, tuple[Any, str, int]] = {}  # local copy -> (fs, path, size)
        self._pending: set[Path] = set()  # placeholders not fetched whole (yet)
        self.rewritten: set[Path] = set()  # objects written again while read (`forget`)
        self.schemes: set[str] = set()  # those of the URIs given
        # Objects under a folder given whose names no file can have: (URI, why not read).
        self.skipped: list[tuple[str, str]] = []
        self._filesystems: dict[str, tuple[Any, str]] = {}

    def local(self, paths: list[Path], reporter: Reporter, *, engine: str = "duckdb") -> list[Path]:
        """`paths` with each object-store URI replaced by its local mirror (placeholders for
        the data objects under a folder, whole manifests, a named object marked for fetching;
        a manifest named alone brings its delivery's folder, as discovery looks there)."""
        for path in paths:
            found = lake_uri(str(path))
            if engine != "duckdb" and found is not None and found[0] in ("az", "abfs"):
                raise UnsupportedError(
                    f"{found[1]}: on --engine {engine} give the container as Hadoop names it: "
                    "abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/FOLDER."
                )
        return [self._mirror(path, reporter) if is_remote(path) else path for path in paths]

    def history(self, entries: list[ManifestEntry]) -> History:
        """What the lake's manifest says of the objects it read before."""
        formats = {
            e.sha256: e.source_format
            for e in entries
            if e.source_format and not e.source_format.startswith("mapping:")
        }
        return {
            (e.path, bare_etag(e.source_etag), e.size): (e.sha256, formats.get(e.sha256, ""))
            for e in entries
            if e.source_etag
        }

    def recorded(self, path: Path, history: History) -> SourceFile | None:
        """The source an unfetched object is, when the lake recorded this very object (its
        URI, size and ETag): what a fetch would find, without the fetch."""
        if path not in self._pending:
            return None
        uri, etag, size = self.origins[str(path)], self.etags[str(path)], self._objects[path][2]
        sha256, source_format = history.get((uri, etag, size), ("", "")) if etag else ("", "")
        if not source_format:
            return None
        return SourceFile(
            path=path,
            size=size,
            container="",
            compression="",
            columns=[],
            sha256=sha256,
            origin=uri,
            etag=etag,
            recorded_format=source_format,
        )

    def fetch(self, files: list[Path], reporter: Reporter) -> None:
        """Fetch the objects whose placeholders (or copies of their ends) are among `files`."""
        wanted = [f for f in files if f in self._pending]
        total = sum(self._objects[f][2] for f in wanted)
        if not wanted:
            return
        from fsspec.callbacks import Callback

        what = wanted[0].name if len(wanted) == 1 else f"{len(wanted)} files"
        task = reporter.task(f"fetch {what}", total=max(total, 1))

        class Shown(Callback):  # (fsspec reports each chunk it wrote)
            def call(self, *args: Any, **kwargs: Any) -> None:
                reporter.update(task, done + self.value)

        done = 0
        for local in wanted:
            fs, path, size = self._objects[local]
            self._pending.discard(local)
            try:
                # Streamed to the file in chunks (each filesystem's get_file).
                fs.get_file(path, str(local), callback=Shown())
            except Exception as exc:  # (each filesystem's own errors)
                raise _unreadable(self.origins[str(local)], exc) from None
            if local.stat().st_size != size:
                self.forget(local)
            else:
                self.forget_if_changed(local)
            done += size

    def fetch_ends(self, files: list[Path]) -> list[Path]:
        """Copy the ends of each object among `files` larger than PARTIAL_FROM: a sparse
        file of the object's size holding its first HEAD_BYTES and its last TAIL_BYTES (or
        its whole Parquet footer) where they are, enough for `source.inspect` but its
        sha256. The copies made; each can still be fetched whole (`fetch`)."""
        done = []
        for local in files:
            if local not in self._pending or self._objects[local][2] <= PARTIAL_FROM:
                continue
            fs, path, size = self._objects[local]
            try:
                head = bytes(fs.cat_file(path, start=0, end=HEAD_BYTES))
                if not _holds_first_line(head) and size > LONG_HEAD_BYTES + TAIL_BYTES:
                    head = bytes(fs.cat_file(path, start=0, end=LONG_HEAD_BYTES))
                tail = bytes(fs.cat_file(path, start=size - TAIL_BYTES, end=size))
                footer = int.from_bytes(tail[-8:-4], "little") + 8 if tail[-4:] == b"PAR1" else 0
                if TAIL_BYTES < footer < size:
                    tail = bytes(fs.cat_file(path, start=size - footer, end=size))
            except Exception:  # (shorter than listed, or unreachable: the whole fetch says)
                continue
            if len(head) not in (HEAD_BYTES, LONG_HEAD_BYTES) or len(tail) != max(
                TAIL_BYTES, min(footer, size)
            ):
                continue  # (written again since it was listed: fetched whole, if at all)
            if not _holds_first_line(head):
                continue  # (a header longer than that: fetched whole, if at all)
            with open(local, "r+b") as copy:
                copy.write(head)
                copy.seek(size - len(tail))
                copy.write(tail)
            done.append(local)
        return done

    def forget_if_changed(self, local: Path) -> None:
        """`forget` the ETag of an object that is no longer the one listed (its ETag now, one
        HEAD), or is gone: what was read of it may be another's bytes. A store that cannot be
        asked is said so (IngestError)."""
        if self._etag_now(local) != self.etags[str(local)]:
            self.forget(local)

    def forget(self, local: Path) -> None:
        """Record no ETag for the object of a copy: it was written again while it was read
        (the next run reads it again), and on Spark the ingest stops (`refuse_changed`)."""
        self.etags[str(local)] = ""
        self.rewritten.add(local)

    def refuse_changed(self, files: list[Path]) -> None:
        """Refuse (IngestError) to go on when an object among `files` was written again since
        it was listed: its executors read it where it is, after this machine did."""
        for local in files:
            if local in self._objects and not self._unchanged(local):
                raise IngestError(
                    f"{self.origins[str(local)]}: the object was written again while it was "
                    "being ingested (its ETag changed); nothing was stored. Run the ingest "
                    "again once the export is delivered."
                )

    def _unchanged(self, local: Path) -> bool:
        """Whether the object is still the one listed (never one `forget` was told of)."""
        return local not in self.rewritten and self._etag_now(local) == self.etags[str(local)]

    def _etag_now(self, local: Path) -> str | None:
        """The object's ETag now (one HEAD, not the listing's cache); None when it is gone. A
        store that cannot be asked is said so (IngestError)."""
        fs, path, _ = self._objects[local]
        try:
            fs.invalidate_cache(path)
            return bare_etag(version_of(fs.info(path)))
        except FileNotFoundError:
            return None
        except Exception as exc:  # (each filesystem's own errors)
            raise _unreadable(self.origins[str(local)], exc) from None

    def named(self, text: str) -> str:
        """`text` with each local copy's path written as its object's URI."""
        for scheme in self.schemes:
            text = text.replace(f"{self.root}/{scheme}/", f"{scheme}://")
        return text

    def _mirror(self, given: Path, reporter: Reporter) -> Path:
        scheme, uri = lake_uri(str(given)) or ("", "")
        fs, root = self._filesystem(scheme, uri)
        self.schemes.add(scheme)
        local_root = self._local(uri)
        try:
            info = fs.info(root)
        except FileNotFoundError:
            return local_root  # (discovery: "no such file or folder", named as the URI)
        except Exception as exc:  # (each filesystem's own errors: no bucket, no credentials)
            raise _unreadable(uri, exc) from None
        if info.get("type") != "file":
            local_root.mkdir(parents=True, exist_ok=True)
            self._place(fs, root, uri, reporter)
        elif is_manifest(local_root):
            # Discovery finds a manifest's files next to it or up to PARENT_LEVELS above.
            levels = min(PARENT_LEVELS + 1, root.count("/"))
            self._place(fs, root.rsplit("/", levels)[0], uri.rsplit("/", levels)[0], reporter)
        else:  # (an object named by the user is read whatever its name)
            self._add(fs, root, uri, info)
        return local_root

    def _place(self, fs: Any, root: str, uri: str, reporter: Reporter) -> None:
        """A placeholder for each object under `root` that may be a billing file, and each
        report manifest fetched whole."""
        try:
            found = fs.find(root, detail=True, withdirs=False)
        except Exception as exc:  # (each filesystem's own errors)
            raise _unreadable(uri, exc) from None
        manifests = []
        for path, detail in sorted(found.items()):
            relative = path[len(root) :]
            if detail.get("type", "file") != "file" or not relative.startswith("/"):
                continue  # (a folder's marker object, made by the consoles' "Create folder")
            relative = relative[1:]
            if not relative or relative.endswith("/") or not _may_be_billing_file(relative):
                continue
            named = f"{uri}/{relative}"
            if any(p in ("", ".", "..") or len(p.encode()) > 255 for p in relative.split("/")):
                self.skipped.append((named, f"{named}: {_NO_FILE_NAME}"))
                continue
            if self._add(fs, path, named, detail) and is_manifest(Path(relative)):
                manifests.append(self._local(named))
        self.fetch(manifests, reporter)

    def _add(self, fs: Any, path: str, uri: str, detail: dict[str, Any]) -> bool:
        """A placeholder for the object at `path` (`uri`), to fetch if discovery keeps it;
        False when the name cannot be a file's here (another object is a folder there)."""
        local = self._local(uri)
        if str(local) in self.origins:
            return True
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.touch()
        except OSError:
            self.skipped.append((uri, f"{uri}: {_NO_FILE_NAME}"))
            return False
        self.origins[str(local)] = uri
        self.etags[str(local)] = bare_etag(version_of(detail))
        self._objects[local] = (fs, path, int(detail.get("size") or 0))
        self._pending.add(local)
        return True

    def _local(self, uri: str) -> Path:
        """Where the copy of the object (or folder) at `uri` goes."""
        if self.root is None:
            self.root = _work_folder()
        scheme, rest = uri.split("://", 1)
        return self.root / scheme / rest

    def _filesystem(self, scheme: str, uri: str) -> tuple[Any, str]:
        """The filesystem for `uri` (one per bucket or container) and the URI's path in it."""
        bucket = uri.split("://", 1)[1].split("/", 1)[0]
        if f"{scheme}://{bucket}" not in self._filesystems:
            self._filesystems[f"{scheme}://{bucket}"] = _filesystem(scheme, uri)
        fs, bucket_root = self._filesystems[f"{scheme}://{bucket}"]
        inside = uri.split("://", 1)[1][len(bucket) :].strip("/")
        return fs, f"{bucket_root.split('/', 1)[0]}/{inside}".rstrip("/")


_NO_FILE_NAME = (
    "its name has an empty, '.' or '..' part (or one over 255 bytes), or is a folder of other "
    "objects too, which a file's name cannot be; not read. Copy it to a plain name to ingest it."
)


def _work_folder() -> Path:
    """A new folder for one command's copies; those of this machine's processes that ended
    are deleted (the cache folder may be shared by machines: another's are left alone)."""
    sources = cache_root() / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", socket.gethostname())
    for folder in sources.iterdir():
        owner, _, rest = folder.name.rpartition("~")
        pid = rest.split("-", 1)[0]
        if owner == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    folder = sources / f"{host}~{os.getpid()}-{secrets.token_hex(6)}"
    folder.mkdir()
    return folder.resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bare_etag(etag: str | None) -> str:
    """An ETag as one string whichever call gave it (adlfs before 2026.5 lists one without the
    quotes its HEAD gives; a weak one starts `W/`); "" for none."""
    return (etag or "").removeprefix("W/").strip('"')


def _holds_first_line(head: bytes) -> bool:
    """Whether the first bytes of a file hold its whole first line (a Parquet file's header
    is its footer: always); of a gzip file, once decompressed."""
    if head[:4] == b"PAR1":
        return True
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 1 << 21)
        except zlib.error:
            return False
    return b"\n" in head


def _may_be_billing_file(relative: str) -> bool:
    """Whether discovery could read an object (hidden names and other suffixes it skips)."""
    name = relative.rsplit("/", 1)[-1]
    return not name.startswith(".") and name.lower().endswith(DATA_SUFFIXES)


@contextmanager
def remote_sources() -> Iterator[RemoteSources]:
    """A work folder for the command's object-store sources, deleted when it ends; errors
    raised inside name the objects' URIs."""
    sources = RemoteSources()
    token = _ACTIVE.set(sources)
    try:
        yield sources
    except CloudtallyError as exc:
        if not sources.schemes:
            raise
        raise type(exc)(sources.named(str(exc))) from None
    finally:
        _ACTIVE.reset(token)
        if sources.root is not None:
            shutil.rmtree(sources.root, ignore_errors=True)


def _filesystem(scheme: str, uri: str) -> tuple[Any, str]:
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UnsupportedError(
            f"{uri}: cloudtally reads billing exports from a local path or an object store "
            f"({known}), not {scheme}://."
        )
    try:
        return object_filesystem(scheme, uri)
    except ImportError:
        raise UnsupportedError(
            f"{uri}: reading exports from {scheme}:// needs its filesystem library: "
            f"`pip install 'cloudtally[{SCHEMES[scheme][0]}]'`."
        ) from None
    except Exception as exc:  # (the libraries' own errors: no account, bad options)
        raise _unreadable(uri, exc) from None


def _unreadable(uri: str, exc: BaseException) -> IngestError:
    text = str(exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    return IngestError(
        f"{uri} cannot be read ({reason}). Check the bucket's name, the credentials and the "
        "endpoint (for S3: AWS_PROFILE or AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL); nothing was "
        "stored."
    )
