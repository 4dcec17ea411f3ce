"""The lake: Iceberg tables behind one catalog, merged file by file (DuckDB reads them:
`tasks.common.lake_sql`, which no Lambda function ships).

- `catalog`: the catalog the environment configures (``LAKE_WAREHOUSE``,
  ``LAKE_CATALOG_URI``, ``LAKE_CATALOG_NAME``; S3 Tables over SigV4 in AWS, SQLite locally)
  and `ensure_table`.
- `write`: rows as Parquet data files, one per partition, committed as one snapshot.
- `merge`: `merge_rows` (MERGE by key, file by file) and `replace_rows`.
- `errors`: `LakeError`, `LakeConfigError`, `LakeCommitConflict`.
- `threadsafe`: pyiceberg's manifest evaluator made safe to share between its worker
  threads (installed on import: a shared one made single-writer overwrites conflict).

Example::

    catalog = catalog_from_env()
    table = ensure_table(catalog, "silver.violations", SCHEMA, SPEC)
    result = merge_rows(table, updates, key="violation_id", columns=["bedrock_title"])
"""

import tasks.common.lake.threadsafe  # noqa: F401  (installs on import)
from tasks.common.lake.catalog import (
    CATALOG_DB,
    DEFAULT_CATALOG_NAME,
    ENV_CATALOG_NAME,
    ENV_CATALOG_URI,
    ENV_WAREHOUSE,
    S3TABLES_SIGNING_NAME,
    catalog_from_env,
    catalog_properties,
    ensure_once,
    ensure_table,
)
from tasks.common.lake.errors import LakeCommitConflict, LakeConfigError, LakeError
from tasks.common.lake.merge import ALWAYS_TRUE, MergeResult, merge_rows, replace_rows
from tasks.common.lake.write import (
    commit_appended,
    delete_files,
    key_in,
    write_data_files,
    write_files,
)

__all__ = [
    "ALWAYS_TRUE",
    "CATALOG_DB",
    "DEFAULT_CATALOG_NAME",
    "ENV_CATALOG_NAME",
    "ENV_CATALOG_URI",
    "ENV_WAREHOUSE",
    "S3TABLES_SIGNING_NAME",
    "LakeCommitConflict",
    "LakeConfigError",
    "LakeError",
    "MergeResult",
    "catalog_from_env",
    "catalog_properties",
    "commit_appended",
    "delete_files",
    "ensure_once",
    "ensure_table",
    "key_in",
    "merge_rows",
    "replace_rows",
    "write_data_files",
    "write_files",
]
