"""`selftune backup [--to DIR]`, `selftune backup --verify DIR` and `selftune restore DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.cli.common import app_state, console, emit_json, settings_of
from config.errors import UsageError


def _verify(folder: Path, as_json: bool) -> None:
    """Check every file of a backup against its manifest; a damaged backup ends with exit code 1."""
    from skills.backup import read_manifest, verify_backup

    manifest = read_manifest(folder)
    problems = verify_backup(folder)
    if as_json:
        emit_json({"ok": not problems, "backup": str(folder), "files": len(manifest.files), "problems": problems})
    elif problems:
        console.print(f"[red]The backup {folder} fails verification:[/]", highlight=False)
        for problem in problems:
            console.print(f"  {problem}", highlight=False)
    else:
        console.print(f"The backup {folder} is intact: {len(manifest.files)} files match their checksums.",
                      highlight=False)
    if problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the `backup` and `restore` commands."""

    @app.command("backup")
    def backup(
        ctx: typer.Context,
        to: Optional[Path] = typer.Option(  # noqa: UP045 - typer needs Optional on 3.11
            None, "--to", help="A new (or empty) folder to write the backup to (default: a dated folder in backup.dir)."),
        verify: Optional[Path] = typer.Option(  # noqa: UP045
            None, "--verify", help="Check the backup in this folder against its checksums instead of writing one."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Write a consistent copy of the state dir (database, workspace history, adapters, datasets) to restore later.

        The recall index, converted base models and exports are left out: they are rebuilt from what is kept.
        """
        if verify is not None:
            if to is not None:
                raise UsageError("--verify checks an existing backup; drop --to.")
            _verify(verify, as_json)
            return
        from skills.backup import create_backup

        result = create_backup(settings_of(ctx), to)
        if as_json:
            emit_json({"ok": True, **result.model_dump()})
            return
        console.print(f"Backed up {result.files} files ({result.size_mb} MB) to {result.path}; "
                      f"restore with `selftune restore {result.path}`.", highlight=False)

    @app.command("restore")
    def restore(
        ctx: typer.Context,
        folder: Path = typer.Argument(..., help="A backup folder written by `selftune backup`."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Restore a backup into an empty state dir (SELFTUNE_HOME); the backup is verified first."""
        from config.settings import load_settings
        from skills.backup import restore_backup

        # Not settings_of: it would create the workspace, and the state dir must be empty for the restore.
        settings = load_settings(app_state(ctx).config_path)
        done = restore_backup(settings, folder)
        if as_json:
            emit_json({"ok": True, **done})
            return
        console.print(f"Restored {done['files']} files from {done['from']} into {done['restored']}; the recall "
                      "index is rebuilt from the conversation log on first use.", highlight=False)
        if done["kept_config"]:
            console.print("The selftune.toml already in the state dir was kept; the backup's copy was not restored.",
                          highlight=False)
