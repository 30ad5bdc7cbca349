"""Deployment-key auth for the test Agent Server (a stand-in for an LMSystems deployment key).

A request is accepted only when its ``x-api-key`` header equals the key the server process got in the
``LMSYSTEMS_TEST_DEPLOYMENT_KEY`` environment variable; anything else gets ``401`` with body
``{"detail": "..."}``. If the variable is unset or empty, every protected request is rejected.

Only ``@auth.authenticate`` is registered (no ``@auth.on`` handlers), so there is no resource-level
filtering: whoever holds the key sees every thread, run and assistant. ``langgraph.json`` sets
``disable_studio_auth: true`` so the ``x-auth-scheme: langsmith`` Studio bypass of ``langgraph dev``
cannot skip this check.

Routes outside the auth middleware answer without a key: ``GET /ok``, ``GET /info``, ``GET /docs``,
``GET /metrics`` and ``GET /openapi.json`` (the OpenAPI document is served unauthenticated, 200).
"""

from __future__ import annotations

import hmac
import os

from langgraph_sdk import Auth

KEY_ENV_VAR = "LMSYSTEMS_TEST_DEPLOYMENT_KEY"
HEADER = b"x-api-key"
IDENTITY = "lmsystems-test-deployment"

auth = Auth()


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes]) -> Auth.types.MinimalUserDict:
    expected = os.environ.get(KEY_ENV_VAR, "")
    presented = headers.get(HEADER)
    if not expected or presented is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing or invalid x-api-key")
    if not hmac.compare_digest(presented, expected.encode()):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing or invalid x-api-key")
    return {"identity": IDENTITY, "is_authenticated": True}
