"""pyiceberg's manifest evaluator, made safe to share between threads (installed on import
of `tasks.common.lake`).

An overwrite with files to delete (compaction, `write_files(replace=True)`, the rewrite
behind `replace_rows`' delete) finds their entries in the parent snapshot by reading its
manifests in pyiceberg's worker threads (`_OverwriteFiles._deleted_entries`), each first
asking ONE shared `_ManifestEvalVisitor` whether the manifest's partition summaries can
hold them. pyiceberg 0.12's `eval` keeps the manifest's summaries on the visitor
(`self.partition_fields = ...`) and then walks the filter: a thread switch in between
lets another manifest's summaries answer for this one, and a manifest that holds a file
to delete is skipped. The overwrite then fails with "Missing required files to delete"
(`LakeCommitConflict`) although nothing else wrote: a spurious conflict, never a wrong
commit (the missing file is checked before anything is written). Rare on an idle machine,
it failed a single writer's compaction under load.

Each evaluation here works on its own shallow copy of the visitor: the bound filter is
shared, the summaries being looked at are not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from pyiceberg.expressions import visitors
from pyiceberg.manifest import ManifestFile

_Eval = Callable[[visitors._ManifestEvalVisitor, ManifestFile], bool]


def _per_call(shared_state_eval: _Eval) -> _Eval:
    def eval_on_a_copy(self: visitors._ManifestEvalVisitor, manifest: ManifestFile) -> bool:
        return shared_state_eval(copy.copy(self), manifest)

    eval_on_a_copy.per_call = True  # type: ignore[attr-defined]
    return eval_on_a_copy


def install() -> None:
    """Make `_ManifestEvalVisitor.eval` keep its per-manifest state per call (idempotent)."""
    current = visitors._ManifestEvalVisitor.eval
    if not getattr(current, "per_call", False):
        setattr(visitors._ManifestEvalVisitor, "eval", _per_call(current))  # noqa: B010


install()
