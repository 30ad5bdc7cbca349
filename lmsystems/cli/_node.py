"""`lmsystems node up`: package the handler lmsystems.json names and deploy it as a custom node.

As lmsystems 1.0.8's command (same options, same lmsystems.json, same checks), with two changes: keys
are never printed (the node's key is saved to `.lmsystems/nodes/<name>.json` beside lmsystems.json, a
file only you can read, holding `node_id`, `endpoint_url` and `api_key`: pass it to
`create_serverless_node(**json.load(f))`), and errors are one line with an exit code, never a traceback.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from .._exceptions import APIKeyError, InputError
from .._settings import API_KEY_ENV, BASE_URL_ENV
from ..config import Config
from ._exit import EXIT_CODES_HELP
from ._node_config import build_package, node_config
from ._output import Output

node_app = typer.Typer(
    help="Custom nodes: deploy a handler (a Python function) that your graphs call as a node.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)

UP_HELP = (
    "Deploy the node lmsystems.json describes: package its handler and files, upload them to the "
    "marketplace, and save the node's id, endpoint and key to .lmsystems/nodes/<name>.json.\n\n"
    "lmsystems.json: nodes (required: {name: {file, function}} or {name: file}), description, "
    'python_version (3.7-3.11), dependencies (files to include; ["."] for every .py file), env (a .env '
    "file; ${VAR} values are read from your environment), memory_size (128-10240 MB), timeout (1-900 s), "
    "directions (a .md file), api_key."
)


@node_app.command("up", help=UP_HELP)
def up_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Path to your lmsystems.json configuration file.")
    ] = Path("lmsystems.json"),
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api_key",
            "--api-key",
            "-t",
            help=f"Your LMSystems API key. Default: ${API_KEY_ENV}, then api_key in lmsystems.json.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            "-u",
            help=f"The marketplace API. Default: ${BASE_URL_ENV}, else {Config.DEFAULT_BASE_URL}.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say what goes into the package.")] = False,
) -> None:
    from ..custom_node import upload_custom_node

    out = Output()
    if not config.is_file():
        raise InputError(f"Config file not found: {config}")
    try:
        user_config = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"cannot read {config}: {error}") from None
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key and isinstance(user_config, dict) and isinstance(user_config.get("api_key"), str):
        key = user_config["api_key"]
    if not key:
        raise APIKeyError(
            f"API key required: set {API_KEY_ENV}, pass --api_key, or set api_key in lmsystems.json"
        )
    base = config.resolve().parent
    settings = node_config(user_config, base, os.environ)
    out.note("Creating deployment package...")
    package = build_package(settings, base)
    if verbose:
        logging.getLogger("lmsystems").info("package of %d bytes", len(package))
        out.note(f"  {len(package):,} bytes: {settings['handler_file']} ({settings['handler_function']})")
    metadata = {
        "name": settings["name"],
        "version": settings["version"],
        "description": settings["description"],
        "directions": settings["directions"],
    }
    out.note("Uploading node...")
    answer = upload_custom_node(
        base64.b64encode(package).decode("ascii"), metadata, key, url or Config.get_base_url()
    )
    saved = _save(base, settings["name"], answer)
    out.write("Node deployed successfully!")
    out.write(f"Node ID: {answer['node_id']}")
    out.write(f"Endpoint URL: {answer['endpoint_url']}")
    out.write(f"API key: saved to {saved} (not shown; keep that file private)")


def _save(base: Path, name: str, answer: dict[str, object]) -> Path:
    """Write the node's id, endpoint and key to .lmsystems/nodes/<name>.json, readable by the owner only."""
    directory = base / ".lmsystems" / "nodes"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    content = {key: answer[key] for key in ("node_id", "endpoint_url", "api_key")}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(content, stream, indent=2)
    path.chmod(0o600)
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
