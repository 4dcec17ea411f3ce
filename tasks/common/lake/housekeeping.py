"""Snapshot expiry and orphan file removal: what keeps a table's metadata and storage small.

- `expire_snapshots`: pyiceberg's ExpireSnapshots removes the snapshots older than a cut-off
  (never a branch or tag head, never the newest RETAIN_LAST), then the files only those
  snapshots referenced are deleted, as Iceberg's expire_snapshots does.
- `remove_orphan_files`: files under the table's data/ and metadata/ folders that the table
  does not reference (a writer that crashed before its commit, old metadata versions) and
  that are older than a minimum age, so a writer's files not yet committed are never touched.

Files are deleted only in a local warehouse. S3 Tables removes unreferenced objects itself
(its unreferenced file removal) and does not let clients delete or list table objects.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.table import Table

from tasks.common.lake.errors import LakeCommitConflict, LakeError

STORAGE_MANAGED = "storage-managed"  # why no file was deleted: the storage removes them


@dataclass(frozen=True)
class ExpiryResult:
    snapshots_expired: int = 0
    snapshots_kept: int = 0
    files_deleted: int = 0
    deletion: str = "done"  # or STORAGE_MANAGED


@dataclass(frozen=True)
class OrphanResult:
    files_scanned: int = 0
    files_referenced: int = 0
    orphans_removed: int = 0
    orphans_too_young: int = 0
    deletion: str = "done"  # or STORAGE_MANAGED


def local_root(table: Table) -> Path | None:
    """The table's folder when the warehouse is a local directory, else None."""
    location = urlparse(table.location())
    if location.scheme in ("", "file"):
        return Path(location.path)
    return None


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata references: the current and logged metadata files,
    each snapshot's manifest list, manifests, data and delete files, statistics files."""
    metadata = table.metadata
    found = {table.metadata_location, *(e.metadata_file for e in metadata.metadata_log)}
    found |= {s.statistics_path for s in metadata.statistics}
    found |= {s.statistics_path for s in metadata.partition_statistics}
    seen_manifests: set[str] = set()
    for snapshot in metadata.snapshots:
        found.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen_manifests:
                continue
            seen_manifests.add(manifest.manifest_path)
            entries = manifest.fetch_manifest_entry(table.io, discard_deleted=True)
            found.update(entry.data_file.file_path for entry in entries)
    return found | seen_manifests


def expire_snapshots(table: Table, older_than: datetime, retain_last: int = 1) -> ExpiryResult:
    """Expire the snapshots committed before OLDER_THAN, keeping the newest RETAIN_LAST
    and every branch and tag head; delete the files only they referenced.

    The expiry is one metadata commit; a concurrent commit makes it fail with
    `LakeCommitConflict` (nothing expired, nothing deleted). Expiring nothing commits nothing.
    """
    metadata = table.metadata
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    newest_first = sorted(metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    protected |= {s.snapshot_id for s in newest_first[: max(retain_last, 1)]}
    cutoff_ms = int(older_than.timestamp() * 1000)
    expired = [
        s.snapshot_id
        for s in newest_first
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
    ]
    if not expired:
        return ExpiryResult(snapshots_kept=len(newest_first))
    before = referenced_files(table)
    try:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
    except (CommitFailedException, ValidationException) as exc:
        raise LakeCommitConflict(f"{'.'.join(table.name())}: {exc}") from exc
    kept = len(table.metadata.snapshots)
    if local_root(table) is None:
        return ExpiryResult(len(expired), kept, 0, STORAGE_MANAGED)
    # Referenced now: the metadata just committed, including any commit that landed first.
    unreferenced = before - referenced_files(table)
    deleted = sum(_delete(table, path) for path in unreferenced)
    return ExpiryResult(len(expired), kept, deleted)


def remove_orphan_files(table: Table, older_than: datetime) -> OrphanResult:
    """Delete the files in the table's data/ and metadata/ folders that the table does not
    reference and that were last modified before OLDER_THAN."""
    root = local_root(table)
    if root is None:
        return OrphanResult(deletion=STORAGE_MANAGED)
    # Listed before the references are read: a file committed meanwhile is referenced, and
    # one written meanwhile is too young.
    listed = list(_files_under(root / "data")) + list(_files_under(root / "metadata"))
    referenced = {_local(p) for p in referenced_files(table)}
    if listed and not any(path in referenced for path, _ in listed):
        # Paths spelled differently from the metadata's would all look like orphans.
        raise LakeError(f"{root}: no listed file is referenced by the table; nothing removed")
    cutoff = older_than.timestamp()
    removed = young = live = 0
    for path, mtime in listed:
        if path in referenced:
            live += 1
        elif mtime >= cutoff:
            young += 1
        elif _delete(table, path):
            removed += 1
    return OrphanResult(len(listed), live, removed, young)


def _files_under(folder: Path) -> Iterator[tuple[str, float]]:
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with contextlib.suppress(FileNotFoundError):  # deleted by someone else meanwhile
                yield path, os.stat(path).st_mtime


def _local(location: str) -> str:
    parsed = urlparse(location)
    return parsed.path if parsed.scheme == "file" else location


def _delete(table: Table, path: str) -> bool:
    try:
        table.io.delete(path)
    except FileNotFoundError:
        return False
    return True
