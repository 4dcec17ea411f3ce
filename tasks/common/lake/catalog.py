"""The lake's catalog, configured from the environment, and its tables.

Configuration is the only difference between a laptop and AWS:

``LAKE_WAREHOUSE``
    Locally a directory: the SQLite catalog (``catalog.db``) lives inside it, next to the
    data, so catalog and data survive together. In AWS the S3 Tables table bucket ARN.
``LAKE_CATALOG_URI``
    Unset locally. In AWS the S3 Tables Iceberg REST endpoint,
    ``https://s3tables.<region>.amazonaws.com/iceberg``, signed with SigV4 (signing name
    ``s3tables``, region from ``AWS_REGION``). A ``sqlite://`` or ``postgresql://`` URI
    selects a SQL catalog at that address instead.
``LAKE_CATALOG_NAME``
    Optional, default ``sluice``.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder

from tasks.common.lake.errors import LakeConfigError

ENV_WAREHOUSE = "LAKE_WAREHOUSE"
ENV_CATALOG_URI = "LAKE_CATALOG_URI"
ENV_CATALOG_NAME = "LAKE_CATALOG_NAME"
DEFAULT_CATALOG_NAME = "sluice"
CATALOG_DB = "catalog.db"
S3TABLES_SIGNING_NAME = "s3tables"


def catalog_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The catalog configuration the environment describes (see the module docstring)."""
    env = os.environ if environ is None else environ
    warehouse = env.get(ENV_WAREHOUSE, "").strip()
    uri = env.get(ENV_CATALOG_URI, "").strip()
    if not warehouse:
        raise LakeConfigError(f"{ENV_WAREHOUSE} is not set")
    if uri.startswith(("https://", "http://")):
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise LakeConfigError(f"{ENV_CATALOG_URI} is a REST endpoint but AWS_REGION is not set")
        if not warehouse.startswith("arn:"):
            # S3 Tables names the warehouse by table bucket ARN; a bare name fails late.
            raise LakeConfigError(
                f"{ENV_WAREHOUSE} must be the table bucket ARN, got {warehouse!r}"
            )
        return {
            "type": "rest",
            "uri": uri,
            "warehouse": warehouse,
            "rest.sigv4-enabled": "true",
            "rest.signing-name": S3TABLES_SIGNING_NAME,
            "rest.signing-region": region,
        }
    if uri and not uri.startswith(("sqlite:", "postgresql")):
        raise LakeConfigError(f"{ENV_CATALOG_URI} must be https://, sqlite:// or postgresql://")
    if "://" in warehouse and not warehouse.startswith("file://"):
        if not uri:
            raise LakeConfigError(f"a remote {ENV_WAREHOUSE} needs {ENV_CATALOG_URI}")
        return {"type": "sql", "uri": uri, "warehouse": warehouse}
    path = Path(urlparse(warehouse).path if warehouse.startswith("file://") else warehouse)
    path = path.expanduser().resolve()
    return {
        "type": "sql",
        "uri": uri or f"sqlite:///{path / CATALOG_DB}",
        "warehouse": path.as_uri(),
    }


def catalog_from_env(environ: Mapping[str, str] | None = None) -> Catalog:
    """The configured catalog; one per configuration per process (warm Lambdas reuse it)."""
    env = os.environ if environ is None else environ
    name = env.get(ENV_CATALOG_NAME, "").strip() or DEFAULT_CATALOG_NAME
    return _catalog(name, tuple(sorted(catalog_properties(env).items())))


CATALOG_CACHE_SIZE = 8  # catalogs kept per process, one per configuration


@functools.lru_cache(maxsize=CATALOG_CACHE_SIZE)
def _catalog(name: str, properties: tuple[tuple[str, str], ...]) -> Catalog:
    props = dict(properties)
    if props.pop("type") == "rest":
        return RestCatalog(name, **props)
    warehouse = urlparse(props["warehouse"])
    if warehouse.scheme == "file":
        Path(warehouse.path).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(name, **props)


def ensure_table(
    catalog: Catalog,
    identifier: str,
    schema: Schema,
    partition_spec: PartitionSpec = UNPARTITIONED_PARTITION_SPEC,
    sort_order: SortOrder = UNSORTED_SORT_ORDER,
    properties: Mapping[str, str] | None = None,
) -> Table:
    """Create the table (and its namespace) unless it exists; add any columns it lacks.

    Safe to call from concurrent writers: creation races end with both using one table.
    Only additive schema changes are applied; the partition spec of an existing table is kept.
    """
    namespace = Catalog.namespace_from(identifier)
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except Exception:
        # Another writer created it between the catalog's check and its insert: the SQL
        # catalog raises its database's IntegrityError then, not NamespaceAlreadyExists.
        if not catalog.namespace_exists(namespace):
            raise
    table = catalog.create_table_if_not_exists(
        identifier,
        schema,
        partition_spec=partition_spec,
        sort_order=sort_order,
        properties=dict(properties or {}),
    )
    current = {f.name for f in table.schema().fields}
    if any(f.name not in current for f in schema.fields):
        with table.update_schema() as update:
            update.union_by_name(schema)
    return table


# Catalog object -> the names ensured through it in this process. Weak keys: a catalog the
# cache dropped is forgotten with it, and a new catalog at its address is not taken for it
# (an `id(catalog)` set did, so a new warehouse's table was never created).
_ensured: weakref.WeakKeyDictionary[Catalog, set[str]] = weakref.WeakKeyDictionary()


def ensure_once(catalog: Catalog, name: str, ensure: Callable[[Catalog], object]) -> None:
    """Call ENSURE(catalog) the first time NAME is asked of this catalog in this process
    (creating tables on every batch would cost a catalog round trip each)."""
    done = _ensured.setdefault(catalog, set())
    if name not in done:
        ensure(catalog)
        done.add(name)
