"""A lake in an object store: `--data-dir s3://bucket/lake` (or `s3a://`, `gs://`, `abfss://`).

The layout is the local one (catalog.json, manifest.jsonl, lake/ in Hive folders), under the
URI's prefix, read and written through fsspec (s3fs, gcsfs, adlfs: the extras `cloudtally[s3]`,
`[gcs]`, `[azure]`). What an object store lacks is made up for as follows:

- no rename: new Parquet files are written locally, then uploaded to their final names (which
  no live catalog names yet); the swap is one PUT of catalog.json, which a reader sees whole
  or not at all (object stores replace an object atomically). Files Spark's executors write
  are staged under `staging/` in the store and copied there to their final names
  (`Store.stages_remotely`).
- no listing a reader can trust to be cheap: the catalog records each live file's size
  (`know_sizes`), so a reader opens a file without asking the store for its metadata.
- no append: the manifest is written whole again, its committed bytes then the new entries.
- no lock: the writer creates `.lock` only if it does not exist (a conditional PUT on S3, GCS
  and Azure); a second writer is refused, naming the holder.
- no random writes: the state database (anomalies, feedback, users) is copied down to a local
  work folder for the command and put back afterwards, refusing to overwrite a copy another
  process put back meanwhile.

The local work folder (staging, DuckDB's spill space, the state database's copy) is
`$CLOUDTALLY_CACHE_DIR/lakes/<hash of the URI>` (default `~/.cache/cloudtally`). Credentials and
endpoints come from each filesystem's usual settings (for S3: AWS_ACCESS_KEY_ID, AWS_PROFILE,
AWS_ENDPOINT_URL, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cloudtally.errors import StoreError, UnsupportedError
from cloudtally.store.catalog import file_sha256

# scheme -> (the extra that brings its filesystem, the fsspec protocol)
SCHEMES = {
    "s3": ("s3", "s3"),
    "s3a": ("s3", "s3"),
    "gs": ("gcs", "gcs"),
    "gcs": ("gcs", "gcs"),
    "abfs": ("azure", "abfs"),
    "abfss": ("azure", "abfs"),
    "az": ("azure", "abfs"),
}
URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$")


def lake_uri(given: str) -> tuple[str, str] | None:
    """(scheme, URI) when `given` names an object store (also as pathlib leaves it,
    `s3:/bucket/lake`), else None."""
    match = URI.match(given)
    if not match:
        return None
    scheme, rest = match.group(1).lower(), match.group(2).rstrip("/")
    return scheme, f"{scheme}://{rest}"


def object_filesystem(scheme: str, uri: str) -> tuple[Any, str]:
    """fsspec's filesystem for an object store's URI (with what the URI says, such as an Azure
    URI's account), a fresh instance that lists nothing from a cache (another process may have
    written since: a served dashboard, a cloud delivering exports), and the URI's path in it
    (bucket/prefix). Raises ImportError when the store's library is not installed, and the
    library's own errors (no account, bad options)."""
    import fsspec.core

    protocol = SCHEMES[scheme][1]
    fsspec.get_filesystem_class(protocol)  # (ImportError when its library is missing)
    fs, root = fsspec.core.url_to_fs(
        f"{protocol}://{uri.split('://', 1)[1]}", skip_instance_cache=True, use_listings_cache=False
    )
    return fs, str(root).rstrip("/")


def cache_root() -> Path:
    configured = os.environ.get("CLOUDTALLY_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cloudtally"


class ObjectLake:
    """The files of a lake under an object-store URI, addressed by their paths relative to it
    (the catalog's paths)."""

    def __init__(self, scheme: str, uri: str) -> None:
        if scheme not in SCHEMES:
            known = ", ".join(f"{s}://" for s in SCHEMES)
            raise UnsupportedError(
                f"--data-dir {uri}: {scheme}:// is not a lake location cloudtally can use. "
                f"Give a local folder or an object store ({known})."
            )
        extra = SCHEMES[scheme][0]
        self.scheme = scheme
        self.uri = uri
        if "/" not in uri.split("://", 1)[1]:
            raise UnsupportedError(
                f"--data-dir {uri}: give a folder inside the bucket or container "
                f"(e.g. {uri}/cloudtally), not its root."
            )
        try:
            self.fs, self.root = object_filesystem(scheme, uri)
        except ImportError:
            raise UnsupportedError(
                f"--data-dir {uri}: a lake in {scheme}:// needs its filesystem library: "
                f"`pip install 'cloudtally[{extra}]'`."
            ) from None
        except Exception as exc:  # (the libraries' own errors: no account, bad options)
            raise self._unreachable(exc) from None
        # (self.root: bucket/prefix, as the filesystem addresses it)
        self.state_lock = _STATE_LOCKS.setdefault(uri, threading.Lock())
        self._catalog_etag: str | None = None
        self._lock_token = ""
        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        self.work_dir = cache_root() / "lakes" / digest
        # sha256 and size of files this process uploaded (`commit` records them without
        # reading back)
        self.uploaded: dict[str, tuple[str, int]] = {}
        self._infos: dict[str, dict[str, Any]] = {}
        self._remember_lake_files()

    def location(self, path: str) -> str:
        """The URI engines open a file at."""
        return f"{self.uri}/{path}"

    def names(self, path: str) -> list[str]:
        """The names DuckDB gives a file: its `location`, and the one it gets back from the
        filesystem, under the filesystem's first protocol (`abfs://CONTAINER/...` for an
        `az://` or `abfss://CONTAINER@ACCOUNT...` lake, `s3://` for `s3a://`)."""
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return list(dict.fromkeys([self.location(path), f"{protocol}://{self._key(path)}"]))

    def _key(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    # -- reading ---------------------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        """The whole object, or None when there is none."""
        try:
            return bytes(self.fs.cat_file(self._key(path)))
        except FileNotFoundError:
            return None
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None

    def open(self, path: str) -> BinaryIO:
        size = self.size(path)
        try:
            opened: BinaryIO = self.fs.open(self._key(path), "rb", size=size)
        except OSError:
            raise
        except Exception as exc:
            raise self._unreachable(exc) from None
        return opened

    def size(self, path: str) -> int:
        """Its size in bytes (FileNotFoundError when it is not there)."""
        return int(self._info(path)["size"])

    def know_sizes(self, sizes: dict[str, int]) -> None:
        """Take the sizes of lake files (as a catalog records them) for what the store would
        say of them: opening one then asks the store nothing before reading it."""
        for path, size in sizes.items():
            key = self._key(path)
            if key not in self._infos:
                self._infos[key] = {
                    "name": key,
                    "size": size,
                    "type": "file",
                    # its time as each filesystem's `modified` gives it (DuckDB asks, to know
                    # whether a file it cached changed: a lake file never does)
                    **dict.fromkeys(("LastModified", "mtime", "last_modified"), _NEVER),
                }

    def identity(self, path: str) -> tuple[Any, ...]:
        info = self._info(path)
        return (version_of(info), info["size"])

    def _info(self, path: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.fs.info(self._key(path))
        except OSError:
            raise  # (FileNotFoundError: the file is missing, which callers report as such)
        except Exception as exc:
            raise self._unreachable(exc) from None
        return found

    def _remember_lake_files(self) -> None:
        """Ask the store once per lake file for its metadata (size, ETag), not once per look
        (DuckDB opens a file several times in a query). A lake file is never changed in place:
        a new one gets a new name."""
        known = self._infos
        lake = f"{self.root}/lake/"
        strip = self.fs._strip_protocol
        if getattr(self.fs, "async_impl", False):  # s3fs, gcsfs, adlfs: sync calls go here
            asked_async = self.fs._info

            async def info_async(path: str, *args: Any, **kwargs: Any) -> Any:
                key = strip(path)
                fresh = kwargs.get("refresh") or kwargs.get("version_id")
                if fresh or not key.startswith(lake):
                    return await asked_async(path, *args, **kwargs)
                if key not in known:
                    known[key] = await asked_async(path, *args, **kwargs)
                return known[key]

            self.fs._info = info_async  # (the sync `info` was bound before: patched below)
        asked = self.fs.info

        def info(path: str, *args: Any, **kwargs: Any) -> Any:
            key = strip(path)
            fresh = kwargs.get("refresh") or kwargs.get("version_id")
            if fresh or not key.startswith(lake):
                return asked(path, *args, **kwargs)
            if key not in known:
                known[key] = asked(path, *args, **kwargs)
            return known[key]

        self.fs.info = info

    def exists(self, path: str = "") -> bool:
        try:
            return bool(self.fs.exists(self._key(path)))
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None

    def parquet_files(self, under: str) -> list[str]:
        """The Parquet files under folder `under`, relative to the lake."""
        return [f for f in self.files(under) if f.endswith(".parquet")]

    # -- writing ---------------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        """Replace the object (readers see the old bytes or the new, never a mix)."""
        try:
            self.fs.pipe_file(self._key(path), data)
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None

    def put(self, local: Path, path: str) -> None:
        """Put a copy of a local file at `path`."""
        try:
            self.fs.put_file(str(local), self._key(path))
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None

    def upload(self, local: Path, path: str) -> None:
        """Put a local file at `path` and remove the local copy; its sha256 and size are
        remembered (reading it back, as the daily cube does, asks the store nothing first)."""
        self.uploaded[path] = (file_sha256(local), local.stat().st_size)
        self.put(local, path)
        local.unlink()
        if path.startswith("lake/"):
            self.know_sizes({path: self.uploaded[path][1]})

    def move(self, path: str, to: str) -> None:
        """Move an object to another name in the lake: a copy in the store, then the source's
        delete, once the copy is complete (Azure copies in the background)."""
        try:
            self.fs.cp_file(self._key(path), self._key(to))
            if SCHEMES[self.scheme][1] == "abfs":
                self._await_copy(to)
            self.fs.rm_file(self._key(path))
        except StoreError:
            raise
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None

    def _await_copy(self, path: str) -> None:
        """Wait until Azure's copy to `path` is complete: adlfs starts it and returns (within
        one account it is normally done by then). A copy that failed, or is still pending after
        COPY_WAIT_SECONDS (then aborted), is an error; the source is kept, for the next
        writer to clear."""
        from fsspec.asyn import sync

        container, blob, _ = self.fs.split_path(self._key(path))
        client = self.fs.service_client.get_blob_client(container, blob)
        deadline = time.monotonic() + COPY_WAIT_SECONDS
        while True:
            copy = sync(self.fs.loop, client.get_blob_properties).copy
            if copy.status in (None, "success"):
                return
            if copy.status != "pending" or time.monotonic() > deadline:
                if copy.status == "pending":
                    sync(self.fs.loop, client.abort_copy, copy.id)
                raise StoreError(
                    f"{self.location(path)}: the store's copy of it did not complete "
                    f"({copy.status}: {copy.status_description or 'no reason given'}); "
                    "run the command again."
                )
            time.sleep(0.2)

    def files(self, under: str) -> list[str]:
        """Every object under folder `under`, relative to the lake."""
        prefix = self.root + "/"
        try:
            found = self.fs.find(self._key(under))
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise self._unreachable(exc) from None
        return [f.removeprefix(prefix) for f in found]

    def remove_tree(self, path: str) -> None:
        """Remove every object under folder `path` (nothing when there is none)."""
        keys = [self._key(name) for name in self.files(path)]
        for key in keys:
            self._infos.pop(key, None)
        if not keys:
            return
        try:
            self.fs.rm(keys)  # (S3: one request per thousand)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._unreachable(exc) from None

    def remove(self, path: str) -> None:
        self._infos.pop(self._key(path), None)
        try:
            self.fs.rm_file(self._key(path))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self._unreachable(exc) from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Be the one writer: `.lock` is created only if it does not exist."""
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "token": secrets.token_hex(8),
        }
        data = json.dumps(holder).encode()
        try:
            self.fs.pipe_file(self._key(".lock"), data, mode="create")
        except Exception as exc:  # (the libraries raise their own errors too)
            if _precondition_failed(exc):
                raise StoreError(self._held_message()) from None
            raise self._unreachable(exc) from None
        # The catalog as this writer found it: its commits replace that one only.
        self._catalog_etag = self.version("catalog.json")
        try:
            yield
        finally:
            self._catalog_etag = None
            if self.read(".lock") == data:  # (a lock deleted by hand may be another's now)
                self.remove(".lock")

    def write_catalog(self, data: bytes) -> None:
        """Replace catalog.json, provided it is still the one this writer found when it took
        the lock (on S3: a conditional PUT). A writer whose lock was deleted by hand while it
        ran must not replace the commit of the writer that took the lock after it."""
        key = self._key("catalog.json")
        try:
            if self._catalog_etag is None:
                self.fs.pipe_file(key, data, mode="create", **self._one_put())
            else:
                self._replace_if("catalog.json", data, self._catalog_etag)
        except Exception as exc:  # (the libraries raise their own errors too)
            if _precondition_failed(exc):
                raise StoreError(
                    f"{self.uri}/catalog.json was replaced by another cloudtally process while "
                    "this one held the lock (was .lock deleted by hand?); this run's changes "
                    "were not made live. Run again."
                ) from None
            raise self._unreachable(exc) from None
        self._catalog_etag = self.version("catalog.json")

    def _one_put(self) -> dict[str, Any]:
        """What makes the filesystem write an object in one request (a multipart upload takes
        no condition). `chunksize` is s3fs's: adlfs hands an option it does not know to its
        HTTP call, which refuses it."""
        return {"chunksize": _ONE_PUT} if self.scheme in ("s3", "s3a") else {}

    def _replace_if(self, path: str, data: bytes, etag: str | None) -> None:
        """Replace the object at `path` only if it is still the version `etag` names
        (FileExistsError, or the store's refusal, otherwise): a conditional PUT on S3 (If-Match)
        and Azure (If-Match through adlfs); on GCS compared, then written (a write by another
        process in between is lost; docs/scale.md)."""
        key = self._key(path)
        if etag is not None and self.scheme in ("s3", "s3a"):
            self.fs.pipe_file(key, data, IfMatch=etag, **self._one_put())
            return
        if etag is not None and SCHEMES[self.scheme][1] == "abfs":
            from azure.core import MatchConditions

            self.fs.pipe_file(key, data, etag=etag, match_condition=MatchConditions.IfNotModified)
            return
        if self.version(path) != etag:
            raise FileExistsError(key)
        self.fs.pipe_file(key, data)

    def version(self, path: str) -> str | None:
        """The object's ETag now (`version_of`), asked of the store (one HEAD); None when
        there is no such object."""
        try:
            info = self.fs.info(self._key(path), refresh=True)
        except FileNotFoundError:
            return None
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None
        return version_of(info)

    @contextmanager
    def state_copy(self, local: Path) -> Iterator[None]:
        """The state database copied down to `local` for the block, and put back if it changed
        there; refused when another process put back a copy meanwhile (nothing is lost: run
        again)."""
        try:
            info = self.fs.info(self._key("state.duckdb"))
        except FileNotFoundError:
            info = None
        except Exception as exc:  # (the libraries raise their own errors too)
            raise self._unreachable(exc) from None
        try:
            if info is not None:
                self.fs.get_file(self._key("state.duckdb"), str(local))
            before = file_sha256(local) if info is not None else None
            yield
            if local.exists() and file_sha256(local) != before:
                self._put_state(local.read_bytes(), info)
        finally:  # (a run that failed puts nothing back)
            local.unlink(missing_ok=True)
            Path(f"{local}.wal").unlink(missing_ok=True)

    def _put_state(self, data: bytes, info: dict[str, Any] | None) -> None:
        try:
            key = self._key("state.duckdb")
            if info is None:
                self.fs.pipe_file(key, data, mode="create", **self._one_put())
            else:
                self._replace_if("state.duckdb", data, version_of(info))
        except Exception as exc:  # (the libraries raise their own errors too)
            if _precondition_failed(exc):
                raise StoreError(
                    f"{self.uri}/state.duckdb was changed by another cloudtally process while "
                    "this one worked; nothing of this run was saved to it. Run again."
                ) from None
            raise self._unreachable(exc) from None

    @contextmanager
    def state_snapshot(self, folder: Path) -> Iterator[Path | None]:
        """A copy of the state database in `folder`, the block's own (removed after it), or
        None when there is none."""
        local = folder / f"state-read-{os.getpid()}-{secrets.token_hex(4)}.duckdb"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self._key("state.duckdb"), str(local))
        except FileNotFoundError:
            local.unlink(missing_ok=True)
            yield None
            return
        except Exception as exc:  # (the libraries raise their own errors too)
            local.unlink(missing_ok=True)
            raise self._unreachable(exc) from None
        try:
            yield local
        finally:
            local.unlink(missing_ok=True)
            Path(f"{local}.wal").unlink(missing_ok=True)

    def _held_message(self) -> str:
        data = self.read(".lock") or b"{}"
        try:
            holder = json.loads(data)
        except ValueError:
            holder = {}
        who = (
            f" (process {holder.get('pid')} on {holder.get('host')}, since {holder.get('since')})"
            if holder
            else ""
        )
        return (
            f"{self.uri} is being written by another cloudtally process{who}; wait for it to "
            f"finish and run again. If that process is gone, delete {self.uri}/.lock."
        )

    def _unreachable(self, exc: BaseException) -> StoreError:
        text = str(exc).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        return StoreError(
            f"--data-dir {self.uri} cannot be reached ({reason}). Check the bucket's name, "
            "the credentials and the endpoint (for S3: AWS_PROFILE or AWS_ACCESS_KEY_ID, "
            "AWS_ENDPOINT_URL)."
        )


# uri -> the lock its state database's writers take in this process
_STATE_LOCKS: dict[str, threading.Lock] = {}
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
# An S3 upload below this size is one PUT (above it, parts: which take no condition).
_ONE_PUT = 2 * 2**30
# How long a move waits for Azure's server-side copy of one object.
COPY_WAIT_SECONDS = 300


def version_of(info: dict[str, Any]) -> str | None:
    """What changes when the object is replaced: S3's and Azure's ETag, GCS's generation."""
    found = info.get("ETag") or info.get("etag") or info.get("generation") or info.get("md5Hash")
    return str(found) if found is not None else None


def _precondition_failed(exc: BaseException) -> bool:
    """Whether a conditional write was refused (the object exists, or changed since)."""
    text = str(exc)
    if getattr(exc, "status_code", None) == 412:  # (Azure's ResourceModifiedError)
        return True
    return isinstance(exc, FileExistsError) or any(
        sign in text for sign in ("PreconditionFailed", "pre-conditions", "412")
    )
