"""The local stack behind `lmsystems dev`: a real Agent Server and a marketplace emulator.

* `agent_server`: start and stop `langgraph dev` (in-memory runtime) on a free port, in its own process
  group, with a deployment key handed to it through an environment variable.
* `marketplace`: the LMSystems marketplace API (`openapi/marketplace.yaml`) served by a small Starlette
  app, resolving graph names to a local Agent Server.
* `stack`: both together, as `lmsystems dev` runs them.

Needs the `dev` extra (`pip install 'lmsystems[dev]'`); a missing piece raises `MissingExtraError` with
the command that installs it. `import lmsystems` never imports this package.
"""

from __future__ import annotations

from ._extras import MissingExtraError

__all__ = ["MissingExtraError"]
