"""``civic import cloud-platform-environments SRC DEST``: bring an existing estate to Civic.

Thin: reads and converts through :mod:`civic.importers.importing`, prints the report
(human or ``--output json``) and writes the estate with its report in one move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from civic.cli import common
from civic.cli.common import OutputOption

if TYPE_CHECKING:
    from civic.importers import report

SHOWN_PER_KIND = 4

app = typer.Typer(no_args_is_help=True, help="Import an estate kept in another layout.")


@app.command("cloud-platform-environments")
def cloud_platform_environments(
    src: str = typer.Argument(..., help="A cloud-platform-environments checkout (holds namespaces/)."),
    dest: str = typer.Argument(..., help="The folder to write the Civic estate into."),
    force: bool = typer.Option(False, "--force", help="Replace the estate files in a non-empty DEST."),
    name: str = typer.Option("imported", "--name", help="The platform's name in civic.yaml."),
    output: common.Output = OutputOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the report; write nothing."),
) -> None:
    """Read namespaces/<cluster>/<namespace>/ folders and write a Civic estate to DEST.

    Every object read is reported as mapped, already Civic's default, or skipped with
    the reason; every value rewritten into Civic's vocabulary is listed. The report is
    also written to DEST/import-report.json and DEST/import-report.md.
    """
    from civic.importers import importing  # python-hcl2 and the MoJ reader: only for import

    if not dry_run:
        importing.check_dest(dest, force=force)
    result = importing.run(src, platform_name=name)
    if output is common.Output.json:
        common.print_json(result.report.as_dict())
    else:
        _print_human(result.report)
    if not dry_run:
        importing.write(result, dest, force=force)
        if output is common.Output.human:
            common.out.print(
                f"[green]✓[/] wrote the estate and {importing.REPORT_JSON} to {dest}; "
                f"check it with 'civic validate -e {dest}'."
            )


def _print_human(found: report.Report) -> None:
    from civic.importers import importing, report

    for line in report.summary_lines(found):
        common.out.print(line, markup=False)
    table = report.normalisation_table(found)
    if table:
        common.out.print("Normalisations, most frequent of each kind (kind: from → to, count):")
    shown: dict[str, int] = {}
    for kind, original, value, count in table:
        shown[kind] = shown.get(kind, 0) + 1
        if shown[kind] <= SHOWN_PER_KIND:
            common.out.print(f"  {kind}: {original} → {value} ({count})", markup=False)
    hidden = sum(max(0, n - SHOWN_PER_KIND) for n in shown.values())
    if hidden:
        common.out.print(f"  ... and {hidden} more; every one is in {importing.REPORT_MD}.")
