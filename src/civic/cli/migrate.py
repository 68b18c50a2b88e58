"""``civic migrate``: upgrade the state store's schema, and say from which revision to which.

Every command that opens the store migrates it first (see :mod:`civic.store.migrations`);
this command does only that, for an operator who wants to do it on purpose (before
starting ``civic up`` on PostgreSQL, say) and to see the revisions.
"""

from __future__ import annotations

import os

from civic.cli import common
from civic.cli.common import EstateOption, OutputOption, StateOption


def migrate(estate: str = EstateOption, state: str = StateOption, output: common.Output = OutputOption) -> None:
    """Upgrade the state store's schema to this Civic's newest revision; print the revision
    before and after. (Every command that opens the store does this first; this does it alone.)"""
    from civic.store import database  # SQLAlchemy costs 0.25 s to import: only when needed

    where = state or os.path.join(common.civic_dir(common.estate_root(estate)), "state.db")
    done = database.migrate(where)
    if output is common.Output.json:
        common.print_json(
            {
                "state": database.redact(where),
                "before": done.before,
                "after": done.after,
                "legacy": done.legacy,
                "changed": done.changed,
            }
        )
        return
    if done.legacy:
        before = "none (made by a Civic release before migrations; recognised as the baseline)"
    else:
        before = done.before or "none (a new store)"
    common.out.print(f"state store:     {database.redact(where)}", markup=False)
    common.out.print(f"revision before: {before}", markup=False)
    common.out.print(f"revision after:  {done.after} (the newest)", markup=False)
    common.out.print("Migrated." if done.changed else "Already up to date: nothing to do.")
