"""`selftune recipes list|show|new`: training recipes as TOML files in the workspace (the improver edits the same ones)."""

from __future__ import annotations

import shutil

import typer
from rich.syntax import Syntax
from rich.table import Table

from agent.cli.common import console, emit_json, new_typer, settings_of
from config.errors import UsageError
from config.names import check_name, normalize_name

recipes_app = new_typer("List, show and create training recipes (TOML files in the workspace's recipes/).")


def _summary(settings, name: str) -> dict:  # noqa: ANN001 - Settings
    """One recipe's name, file, method and description."""
    from skills.train.spec import read_recipe, recipe_path

    path = recipe_path(settings, name)
    recipe = read_recipe(path)
    return {"name": name, "path": str(path), "method": recipe.method, "base_model": recipe.base_model,
            "description": recipe.description, "hyper": recipe.hyper.model_dump(exclude_none=True)}


@recipes_app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List the recipes `selftune train NAME` accepts (workspace copies first)."""
    from skills.train.spec import list_recipes

    settings = settings_of(ctx)
    rows = [_summary(settings, name) for name in list_recipes(settings)]
    if as_json:
        emit_json({"recipes": rows})
        return
    table = Table("name", "method", "description", expand=False)
    table.columns[0].no_wrap = True  # names are what people copy: never split them
    for row in rows:
        table.add_row(row["name"], row["method"], row["description"])
    console.print(table)
    console.print("Files live in the workspace's recipes/; `selftune recipes show NAME` prints one.", markup=False)


@recipes_app.command("show")
def show_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Recipe name."),
             as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Print one recipe file (comments included) and where it lives."""
    summary = _summary(settings_of(ctx), name)
    if as_json:
        emit_json(summary)
        return
    console.print(f"# {summary['path']}", markup=False, soft_wrap=True)
    with open(summary["path"], encoding="utf-8") as fh:
        console.print(Syntax(fh.read(), "toml", theme="ansi_dark", background_color="default", word_wrap=True))


@recipes_app.command("new")
def new_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Name of the new recipe (letters, digits, - and _)."),
    source: str = typer.Option("persona-lora", "--from", help="Recipe to copy (a built-in or one of yours)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Copy a recipe into the workspace's recipes/NAME.toml (a commit), ready to edit and train with."""
    from config.workspace import open_workspace
    from skills.train.spec import read_recipe, recipe_path

    settings = settings_of(ctx)
    name = check_name(normalize_name(name), "recipe")
    src = recipe_path(settings, source)
    target = settings.workspace_dir / "recipes" / f"{name}.toml"
    if target.exists():
        raise UsageError(f"Recipe {name} already exists at {target}; edit it or choose another name.")
    read_recipe(src)  # never copy a broken file
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    open_workspace(settings).commit(f"recipes: new {name} from {source}", [f"recipes/{name}.toml"])
    if as_json:
        emit_json({"name": name, "path": str(target), "from": source})
        return
    console.print(f"Created {target} from {source}; train with `selftune train {name}`.", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `recipes` group."""
    app.add_typer(recipes_app, name="recipes")
