"""The state every task reads (the request, validated) and its table."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from schemas.lake_maintenance import MaintenanceState
from tasks.common.lake import catalog_from_env
from tasks.common.validation import parsed
from tasks.lake_maintenance.errors import InvalidMaintenanceRequest


def load(event: Any, catalog: Catalog | None = None) -> tuple[MaintenanceState, Table]:
    """The state and its table, loaded fresh; `InvalidMaintenanceRequest` names a bad
    field or a missing table."""
    state = parsed(MaintenanceState, event, InvalidMaintenanceRequest)
    try:
        table = (catalog or catalog_from_env()).load_table(state.request.table)
    except NoSuchTableError:
        raise InvalidMaintenanceRequest(
            f"table: {state.request.table} is not a table of the lake"
        ) from None
    return state, table


def data_files(table: Table) -> int:
    """Data files of the current snapshot."""
    if table.current_snapshot() is None:
        return 0
    return sum(1 for _ in table.scan().plan_files())


def as_model[M: BaseModel](model: type[M], result: Any) -> M:
    """RESULT, a dataclass with snake_case fields, as MODEL with the same camelCase fields."""

    def camel(name: str) -> str:
        first, *rest = name.split("_")
        return first + "".join(word.title() for word in rest)

    return model(**{camel(k): v for k, v in dataclasses.asdict(result).items()})
