"""`lmsystems.json`, as lmsystems 1.0.8's `lmsystems node up` read it, and the node package built from it.

    {
      "nodes": {"my-node": {"file": "handler.py", "function": "lambda_handler"}},  (or {"my-node": "x.py"})
      "description": "My node", "python_version": "3.11", "dependencies": ["helpers.py"] (or ["."]),
      "env": ".env", "memory_size": 256, "timeout": 30, "directions": "README.md"
    }

Paths are relative to the directory of lmsystems.json. Every rule of 1.0.8 is kept (its messages too);
an `InputError` says what is wrong. Differences: the package is built in memory; `"."` in dependencies
includes every `.py` file of the project (1.0.8 accepted it but included nothing); the API key from
lmsystems.json is never written into the package.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._exceptions import InputError

PYTHON_VERSIONS = ("3.7", "3.8", "3.9", "3.10", "3.11")
_SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "__pycache__", "node_modules", ".lmsystems"})


def _file(base: Path, value: object, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(f"{what} must be a path (a string)")
    return base / value


def node_config(user_config: object, base: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """The internal config (lambda_config.json) for the lmsystems.json content `user_config`."""
    if not isinstance(user_config, dict):
        raise InputError("lmsystems.json must hold a JSON object")
    nodes = user_config.get("nodes")
    if nodes is None:
        raise InputError("lmsystems.json must contain 'nodes' section")
    if not isinstance(nodes, dict) or len(nodes) != 1:
        raise InputError("Currently only one node per config is supported")
    node_name, node = next(iter(nodes.items()))
    handler_path: object
    handler_function: object
    if isinstance(node, str):
        handler_path, handler_function = node, "lambda_handler"
    elif isinstance(node, dict):
        handler_path, handler_function = node.get("file"), node.get("function", "lambda_handler")
        if not handler_path:
            raise InputError("Node configuration must include 'file' field")
    else:
        raise InputError("Invalid node configuration format")
    if not isinstance(handler_function, str) or not handler_function.isidentifier():
        raise InputError(f"'function' must be a Python function name, not {handler_function!r}")
    if not node_name.replace("-", "").replace("_", "").isalnum():
        raise InputError("Node name must contain only letters, numbers, hyphens, and underscores")
    if len(node_name) > 64:
        raise InputError("Node name must be less than 64 characters")
    handler = _file(base, handler_path, "the node's 'file'")
    if not str(handler_path).endswith(".py"):
        raise InputError("Handler file must be a Python file (.py)")
    if not handler.is_file():
        raise InputError(f"Handler file not found: {handler_path}")
    try:
        source = handler.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Error validating handler function: cannot read {handler_path}: {error}") from None
    if f"def {handler_function}" not in source:
        raise InputError(f"Function '{handler_function}' not found in {handler_path}")
    config: dict[str, Any] = {
        "name": node_name,
        "handler_file": str(handler_path),
        "handler_function": handler_function,
        "description": user_config.get("description", f"Custom node: {node_name}"),
        "version": user_config.get("version", "0.1.0"),
        "runtime": "python3.11",
        "memory_size": 256,
        "timeout": 30,
        "include_files": [],
        "include_all_py": False,
        "env_vars": {},
        "directions": None,
    }
    if "directions" in user_config:
        config["directions"] = _directions(base, user_config["directions"])
    if "memory_size" in user_config:
        memory = user_config["memory_size"]
        if isinstance(memory, bool) or not isinstance(memory, int) or not 128 <= memory <= 10240:
            raise InputError("memory_size must be between 128 and 10240 MB")
        config["memory_size"] = memory
    if "timeout" in user_config:
        timeout = user_config["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 900:
            raise InputError("timeout must be between 1 and 900 seconds")
        config["timeout"] = timeout
    if "python_version" in user_config:
        version = str(user_config["python_version"])
        if version not in PYTHON_VERSIONS:
            raise InputError(f"python_version must be one of: {', '.join(PYTHON_VERSIONS)}")
        config["runtime"] = f"python{version}"
    if "dependencies" in user_config:
        dependencies = user_config["dependencies"]
        if not isinstance(dependencies, list):
            raise InputError("dependencies must be a list")
        for dependency in dependencies:
            if dependency == ".":
                config["include_all_py"] = True
            elif not isinstance(dependency, str) or not (base / dependency).exists():
                raise InputError(f"Dependency not found: {dependency}")
            else:
                config["include_files"].append(dependency)
    config["env_vars"] = _env_vars(base, user_config, environ)
    return config


def _directions(base: Path, value: object) -> str:
    path = _file(base, value, "directions")
    if not path.exists():
        raise InputError(f"Directions file not found: {value}")
    if not str(value).endswith(".md"):
        raise InputError("Directions file must be a Markdown (.md) file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Error reading directions file: {error}") from None
    if not text.strip():
        raise InputError("Directions file is empty")
    return text


def _env_vars(base: Path, user_config: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    given = user_config.get("env_vars", {})
    if not isinstance(given, dict):
        raise InputError("env_vars must be an object")
    env_vars: dict[str, Any] = dict(given)
    if "env" in user_config:
        path = _file(base, user_config["env"], "env")
        if not path.is_file():
            raise InputError(f"Environment file not found: {user_config['env']}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"Error reading environment file: {error}") from None
        for raw in lines:
            line = raw.strip()
            if line and not line.startswith("#"):
                if "=" not in line:
                    raise InputError(f"Invalid environment variable format in {user_config['env']}")
                key, value = line.split("=", 1)
                env_vars[key.strip()] = value.strip()
    processed: dict[str, str] = {}
    for key, value in env_vars.items():
        if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
            name = value[2:-1]
            if name not in environ:
                raise InputError(f"Environment variable {name} not found")
            processed[str(key)] = environ[name]
        else:
            processed[str(key)] = str(value)
    return processed


def _project_files(base: Path, config: dict[str, Any]) -> list[Path]:
    files: list[Path] = []
    if config["include_all_py"]:
        for root, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
            files += [Path(root, name) for name in sorted(names) if name.endswith(".py")]
    for dependency in config["include_files"]:
        path = base / dependency
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        elif dependency != "requirements.txt":
            files.append(path)
    return files


def _installed(requirements: Path, runtime: str) -> Path:
    """Install requirements.txt for the Lambda platform into a temporary directory (as 1.0.8 did)."""
    target = Path(tempfile.mkdtemp(prefix="lmsystems-node-deps-"))
    version = runtime.removeprefix("python").replace(".", "")
    command = [sys.executable, "-m", "pip", "install", "-r", str(requirements), "--target", str(target)]
    command += ["--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", version]
    command += ["--only-binary=:all:", "--upgrade", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(f"Failed to install dependencies from requirements.txt: {tail}")
    return target


def build_package(config: dict[str, Any], base: Path) -> bytes:
    """The ZIP archive: lambda_config.json, the handler, the project files, and requirements.txt's
    packages installed for the Lambda platform."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lambda_config.json", json.dumps(config))
        written = {config["handler_file"]}
        archive.write(base / config["handler_file"], config["handler_file"])
        for path in _project_files(base, config):
            name = path.relative_to(base).as_posix()
            if name not in written:
                archive.write(path, name)
                written.add(name)
        requirements = base / "requirements.txt"
        if requirements.is_file():
            target = _installed(requirements, config["runtime"])
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(target).as_posix())
    return buffer.getvalue()
