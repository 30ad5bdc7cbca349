"""One exception tree: every error from an HTTP status is an APIStatusError whatever else it is, and the
exception we caught is kept as `__cause__`, masked (no key in it, its request rebuilt without headers).
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import traceback
import uuid
from typing import Any

import httpx
import pytest

from lmsystems import (
    APIConnectionError,
    APIKeyError,
    APIKeyRejectedError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GraphError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InputError,
    InternalServerError,
    LmsystemsClient,
    LmsystemsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SyncLmsystemsClient,
    ThreadBusyError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from lmsystems._cause import MaskedError, masked
from lmsystems._errors import MARKETPLACE_CODES, error_from_response

STATUSES = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    418: APIStatusError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: InternalServerError,
    503: InternalServerError,
}


def _answer(service: str, status: int, body: bytes, **options: Any) -> LmsystemsError:
    return error_from_response(
        service=service,
        method="POST",
        path="/x",
        status_code=status,
        reason="Reason",
        headers={"content-type": "application/json", "x-request-id": "req-1"},
        content=body,
        **options,
    )


@pytest.mark.parametrize("service", ["agent server", "marketplace"])
@pytest.mark.parametrize(("status", "kind"), list(STATUSES.items()))
def test_every_status_is_an_api_status_error(service: str, status: int, kind: type) -> None:
    error = _answer(service, status, b'{"detail": "nope"}')
    assert type(error) is kind
    assert isinstance(error, APIStatusError)
    assert (error.status_code, error.request_id, error.body) == (status, "req-1", {"detail": "nope"})
    assert "nope" in str(error) and "req-1" in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is kind and str(again) == str(error)


@pytest.mark.parametrize(("code", "kind"), list(MARKETPLACE_CODES.items()))
def test_marketplace_codes_keep_their_meaning_and_are_status_errors(code: str, kind: type) -> None:
    status = {"graph_not_found": 404, "graph_not_purchased": 403}.get(code, 401 if "key" in code else 400)
    error = _answer("marketplace", status, b'{"detail": {"error": "%s", "message": "m"}}' % code.encode())
    assert type(error) is kind and isinstance(error, APIStatusError) and error.status_code == status
    meaning = {
        "missing_api_key": APIKeyError,
        "invalid_api_key": APIKeyError,
        "missing_graph_name": InputError,
        "invalid_graph_name": InputError,
        "graph_not_found": GraphError,
        "graph_not_purchased": GraphError,
    }[code]
    assert isinstance(error, meaning)


def test_the_semantic_errors_are_status_errors_too() -> None:
    busy = _answer("agent server", 409, b"{}", conflict=ThreadBusyError)
    assert type(busy) is ThreadBusyError and isinstance(busy, ConflictError | GraphError)
    assert issubclass(GraphNotFoundError, NotFoundError) and issubclass(
        GraphNotPurchasedError, APIStatusError
    )
    for kind in (UnauthorizedError, PermissionDeniedError, APIKeyRejectedError):
        assert issubclass(kind, AuthenticationError) and issubclass(kind, APIStatusError)
    # An error raised before any request is not a status error.
    assert not issubclass(APIKeyError, APIStatusError) and not issubclass(InputError, APIStatusError)
    # lmsystems 1.0.8's handler order still picks the specific error first.
    order = (AuthenticationError, GraphNotFoundError, GraphNotPurchasedError, GraphError, InputError)
    for error, expected in (
        (_answer("marketplace", 401, b'{"detail": {"error": "invalid_api_key"}}'), AuthenticationError),
        (_answer("marketplace", 404, b'{"detail": {"error": "graph_not_found"}}'), GraphNotFoundError),
        (
            _answer("marketplace", 403, b'{"detail": {"error": "graph_not_purchased"}}'),
            GraphNotPurchasedError,
        ),
        (_answer("agent server", 422, b"{}"), InputError),
    ):
        assert next(kind for kind in order if isinstance(error, kind)) is expected


def test_masked_copies_drop_the_request_headers_and_the_traceback() -> None:
    secret = "lms_secret_" + uuid.uuid4().hex
    request = httpx.Request("GET", "http://127.0.0.1:9/x", headers={"x-api-key": secret, "accept": "a"})
    try:
        raise httpx.ConnectError(f"refused (key {secret})", request=request)
    except httpx.ConnectError as error:
        copy = masked(error)
    assert type(copy) is httpx.ConnectError and copy.__traceback__ is None
    assert isinstance(copy, httpx.ConnectError)
    assert "x-api-key" not in copy.request.headers and copy.request.headers["accept"] == "a"
    response = httpx.Response(404, json={"detail": "gone"}, request=request)
    status = masked(httpx.HTTPStatusError("404", request=request, response=response))
    assert isinstance(status, httpx.HTTPStatusError) and status.response.status_code == 404
    assert status.response.json() == {"detail": "gone"} and "x-api-key" not in status.request.headers

    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a} {b}")
            self.request = request

    odd = masked(Odd(1, 2))
    assert type(odd) is MaskedError and "Odd: 1 2" in str(odd)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chain(error: BaseException) -> list[BaseException]:
    chain = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__
    return chain


def test_a_connection_failure_keeps_its_masked_cause() -> None:
    key = "lms_deployment_" + uuid.uuid4().hex
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(APIConnectionError) as caught:
        SyncLmsystemsClient("agent", deployment_url=url, deployment_key=key, max_retries=0)
    cause = caught.value.__cause__
    assert isinstance(cause, httpx.ConnectError), repr(cause)
    assert "x-api-key" not in cause.request.headers
    shown = "".join(traceback.format_exception(caught.value))
    assert "ConnectError" in shown and key not in shown


def test_a_real_404_is_a_not_found_status_error(agent_server: Any) -> None:
    async def scenario() -> LmsystemsError:
        client = LmsystemsClient(deployment_url=agent_server.url, deployment_key=agent_server.deployment_key)
        async with client:
            with pytest.raises(NotFoundError) as caught:
                await client.get_thread(str(uuid.uuid4()))
        return caught.value

    error = asyncio.run(scenario())
    assert isinstance(error, APIStatusError) and error.status_code == 404 and error.body is not None


@pytest.mark.parametrize(("status", "kind"), list(STATUSES.items()))
def test_a_refused_websocket_handshake_is_a_status_error(status: int, kind: type) -> None:
    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidStatus
    from websockets.http11 import Response

    from lmsystems._session_core import ws_failure

    error = ws_failure(InvalidStatus(Response(status, "Reason", Headers(), b"")), "the session socket")
    assert type(error) is kind and isinstance(error, APIStatusError) and error.status_code == status
