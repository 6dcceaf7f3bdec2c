"""Billing exports in an object store: `cloudtally ingest s3://bucket/cur/` (or `gs://`,
`abfss://`, `az://`), where the clouds deliver them.

An object-store folder is mirrored into a local work folder for the command: every object
whose name a billing file can have becomes an empty placeholder there and every report
manifest is fetched whole, so that the folder is read (`source.discover`) exactly as a local
copy of it would be, latest delivery and all; then only the files it finds are fetched, each
streamed to disk (never held in memory) with the progress shown, and not even those when the
lake's manifest recorded the very object (its URI, size and ETag or generation) as a source
it holds: a daily `ingest s3://billing/cur/` fetches what is new. Converters and checks read
those copies; everything the user sees or the lake records (messages, the summary, the
manifest's source paths, `x_SourceFile`) names the object's URI, not the copy. On Spark the
executors read the objects themselves (`origin_of`), so a cluster needs no shared mount.

The work folder is `$CLOUDTALLY_CACHE_DIR/sources/<random>` and is deleted when the command
ends. Credentials and endpoints are each filesystem's usual settings, as for a lake in an
object store (store/objects.py).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from cloudtally.errors import CloudtallyError, IngestError, UnsupportedError
from cloudtally.ingest.formats.aws_manifest import is_manifest
from cloudtally.ingest.source import DATA_SUFFIXES, SourceFile
from cloudtally.progress import Reporter
from cloudtally.store.catalog import ManifestEntry
from cloudtally.store.objects import SCHEMES, cache_root, lake_uri, version_of

# The object-store sources of the running command.
_ACTIVE: ContextVar[RemoteSources | None] = ContextVar("cloudtally_sources", default=None)

# (URI, ETag or generation, size) -> (sha256, format) of an object the lake recorded
History = dict[tuple[str, str, int], tuple[str, str]]


def origin_of(path: Path | str) -> str | None:
    """The object-store URI a local copy of a source was fetched from, None for a file that
    is where it was given."""
    active = _ACTIVE.get()
    return active.origins.get(str(path)) if active else None


def etag_of(path: Path | str) -> str:
    """The ETag (or generation) the object a local copy was fetched from had when listed."""
    active = _ACTIVE.get()
    return active.etags.get(str(path), "") if active else ""


def is_remote(path: Path | str) -> bool:
    found = lake_uri(str(path))
    return found is not None and found[0] != "file"


class RemoteSources:
    """The local copies of the object-store sources of one command."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.origins: dict[str, str] = {}  # local copy -> the object's URI
        self.etags: dict[str, str] = {}  # local copy -> the object's ETag when listed
        self._pending: dict[Path, tuple[Any, str, int]] = {}  # placeholder -> (fs, path, size)
        self.schemes: set[str] = set()  # those of the URIs given

    def local(self, paths: list[Path]) -> list[Path]:
        """`paths` with each object-store URI replaced by its local mirror (placeholders for
        the data objects under a folder, whole manifests, a named object marked for fetching)."""
        return [self._mirror(path) if is_remote(path) else path for path in paths]

    def history(self, entries: list[ManifestEntry]) -> History:
        """What the lake's manifest says of the objects it read before."""
        formats = {e.sha256: e.source_format for e in entries if e.source_format}
        return {
            (e.path, e.source_etag, e.size): (e.sha256, formats.get(e.sha256, ""))
            for e in entries
            if e.source_etag
        }

    def recorded(self, path: Path, history: History) -> SourceFile | None:
        """The source an unfetched object is, when the lake recorded this very object (its
        URI, size and ETag): what a fetch would find, without the fetch."""
        if path not in self._pending:
            return None
        uri, etag, size = self.origins[str(path)], self.etags[str(path)], self._pending[path][2]
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
        """Fetch the objects whose placeholders are among `files`."""
        wanted = [f for f in files if f in self._pending]
        total = sum(self._pending[f][2] for f in wanted)
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
            fs, path, size = self._pending.pop(local)
            try:
                # Streamed to the file in chunks (each filesystem's get_file).
                fs.get_file(path, str(local), callback=Shown())
            except Exception as exc:  # (each filesystem's own errors)
                raise _unreadable(self.origins[str(local)], exc) from None
            done += size

    def named(self, text: str) -> str:
        """`text` with each local copy's path written as its object's URI."""
        for scheme in self.schemes:
            text = text.replace(f"{self.root}/{scheme}/", f"{scheme}://")
        return text

    def _mirror(self, given: Path) -> Path:
        scheme, uri = lake_uri(str(given)) or ("", "")
        fs, root = _filesystem(scheme, uri)
        self.schemes.add(scheme)
        local_root = self.root / scheme / uri.split("://", 1)[1]
        try:
            info = fs.info(root)
            found = (
                {root: info}
                if info.get("type") == "file"
                else fs.find(root, detail=True, withdirs=False)
            )
        except FileNotFoundError:
            return local_root  # (discovery: "no such file or folder", named as the URI)
        except Exception as exc:  # (each filesystem's own errors: no bucket, no credentials)
            raise _unreadable(uri, exc) from None
        for path, detail in sorted(found.items()):
            relative = path[len(root) :].lstrip("/")
            local = local_root / relative if relative else local_root
            if relative and not _may_be_billing_file(relative):
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            local.touch()
            self.origins[str(local)] = f"{uri}/{relative}" if relative else uri
            self.etags[str(local)] = version_of(detail) or ""
            self._pending[local] = (fs, path, int(detail.get("size") or 0))
            if is_manifest(local):
                self.fetch([local], Reporter(enabled=False))
        return local_root


def _may_be_billing_file(relative: str) -> bool:
    """Whether discovery could read an object (hidden names and other suffixes it skips)."""
    name = relative.rsplit("/", 1)[-1]
    return not name.startswith(".") and name.lower().endswith(DATA_SUFFIXES)


@contextmanager
def remote_sources() -> Iterator[RemoteSources]:
    """A work folder for the command's object-store sources, deleted when it ends; errors
    raised inside name the objects' URIs."""
    root = (cache_root() / "sources" / secrets.token_hex(6)).resolve()
    sources = RemoteSources(root)
    token = _ACTIVE.set(sources)
    try:
        yield sources
    except CloudtallyError as exc:
        if not sources.schemes:
            raise
        raise type(exc)(sources.named(str(exc))) from None
    finally:
        _ACTIVE.reset(token)
        shutil.rmtree(root, ignore_errors=True)


def _filesystem(scheme: str, uri: str) -> tuple[Any, str]:
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UnsupportedError(
            f"{uri}: cloudtally reads billing exports from a local path or an object store "
            f"({known}), not {scheme}://."
        )
    extra, protocol = SCHEMES[scheme]
    try:
        import fsspec.core

        fsspec.get_filesystem_class(protocol)  # (ImportError when its library is missing)
        # A fresh instance listing nothing from a cache: a long-lived process reads a
        # folder again after the cloud delivered more into it.
        fs, root = fsspec.core.url_to_fs(
            f"{protocol}://{uri.split('://', 1)[1]}",
            skip_instance_cache=True,
            use_listings_cache=False,
        )
    except ImportError:
        raise UnsupportedError(
            f"{uri}: reading exports from {scheme}:// needs its filesystem library: "
            f"`pip install 'cloudtally[{extra}]'`."
        ) from None
    except Exception as exc:  # (the libraries' own errors: no account, bad options)
        raise _unreadable(uri, exc) from None
    return fs, str(root).rstrip("/")


def _unreadable(uri: str, exc: BaseException) -> IngestError:
    text = str(exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    return IngestError(
        f"{uri} cannot be read ({reason}). Check the bucket's name, the credentials and the "
        "endpoint (for S3: AWS_PROFILE or AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL); nothing was "
        "stored."
    )
