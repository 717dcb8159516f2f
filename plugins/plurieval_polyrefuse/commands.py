"""``plurieval polyrefuse ...`` commands (imported when the CLI starts; torch only inside)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="PolyRefuse: build the refusal-tuned model, check the data layout.", no_args_is_help=True)


@app.command("build-model")
def build_model(
    set_: Annotated[list[str] | None, typer.Option("--set", help="recipe field: key=value (see `plurieval show default-refusal`)")] = None,
    force: Annotated[bool, typer.Option("--force", help="rebuild even when a cached build exists")] = False,
) -> None:
    """Fine-tune the default model into `default-refusal` and cache it (one-time, CPU, minutes)."""
    from plurieval.api import split_assignment
    from plurieval_polyrefuse.config import RefusalModelConfig
    from plurieval_polyrefuse.recipe import build, cached_folder

    params = {}
    for item in set_ or []:
        path, value = split_assignment(item)
        params[".".join(path)] = value
    config = RefusalModelConfig.model_validate(params)
    folder, base = cached_folder(config)
    if (folder / "recipe.json").exists() and not force:
        typer.echo(f"default-refusal is already built: {folder} (use --force to rebuild)")
        return
    typer.echo(str(build(config, base, folder)))


@app.command("coverage")
def coverage(source: Annotated[str | None, typer.Option(help="folder, 'github' or 'sample'")] = None) -> None:
    """Which (language, split, kind) files the PolyRefuse source has (JSON)."""
    from plurieval_polyrefuse.data import PolyRefuseSource

    src = PolyRefuseSource(source)
    print(json.dumps({"source": src.source, **src.coverage()}, indent=2))
