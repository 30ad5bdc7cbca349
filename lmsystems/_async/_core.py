"""What every resource shares: settings, the transport, and the deployment (resolved once, lazily)."""

from __future__ import annotations

import copy
import logging
from typing import Any

import httpx

from .._answers import field_of, list_answer
from .._exceptions import ConflictError, GraphNotFoundError, InputError, LmsystemsError
from .._logging import configure_from_env, secret_filter
from .._marketplace import check_deployment_url, deployment_from_graph_info
from .._requests import MARKETPLACE, Endpoint, RequestSpec, agent_server_endpoint, build
from .._settings import ClientSettings
from .._tracing import Tracing
from .._types import Deployment
from ._http import AsyncHTTP
from ._io import Lock

logger = logging.getLogger("lmsystems")

TRACK_RUN_TIMEOUT = httpx.Timeout(5.0)


class AsyncCore:
    """Holds the settings, the HTTP transport and the resolved deployment of one facade."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_insecure_http: bool = False,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.allow_insecure_http = allow_insecure_http
        self.http = AsyncHTTP(
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            transport=transport,
            tracing=tracing,
            max_response_bytes=settings.max_response_bytes,
        )
        self._deployment: Deployment | None = None
        self._parent: AsyncCore | None = None
        self._lock = Lock()
        self._secrets = secret_filter()
        configure_from_env()  # LMSYSTEMS_LOG=debug|info: read when a client is created
        self._secret_values = [settings.api_key, settings.deployment_key]
        for secret in self._secret_values:
            self._secrets.add(secret)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(settings={self.settings!r}, deployment={self.resolved!r})"

    def derive(self, settings: ClientSettings) -> AsyncCore:
        """A core with other settings that shares this one's connections and resolved deployment."""
        derived = copy.copy(self)
        derived.settings = settings
        derived.http = self.http.derive(timeout=settings.timeout, max_retries=settings.max_retries)
        derived._parent = self
        derived._secret_values = []
        return derived

    @property
    def marketplace(self) -> Endpoint:
        return Endpoint(
            "marketplace", self.settings.base_url, {"authorization": f"Bearer {self.settings.api_key}"}
        )

    @property
    def resolved(self) -> Deployment | None:
        """The deployment if it was resolved already, else None."""
        return self._parent.resolved if self._parent is not None else self._deployment

    async def deployment(self) -> Deployment:
        """The deployment serving the graph, resolved on first use."""
        if self._parent is not None:
            return await self._parent.deployment()
        if self._deployment is None:
            async with self._lock:
                if self._deployment is None:
                    deployment = await self._resolve()
                    if deployment.api_key not in self._secret_values:
                        self._secret_values.append(deployment.api_key)
                        self._secrets.add(deployment.api_key)
                    self._deployment = deployment
        return self._deployment

    async def endpoint(self) -> Endpoint:
        """The Agent Server of the deployment, with its key."""
        deployment = await self.deployment()
        return agent_server_endpoint(deployment.url, deployment.api_key)

    async def request(
        self,
        spec: RequestSpec,
        *,
        conflict: type[ConflictError] = ConflictError,
        timeout: httpx.Timeout | None = None,
    ) -> Any:
        """Send a request to the deployment and return its JSON answer."""
        return await self.http.request(await self.endpoint(), spec, conflict=conflict, timeout=timeout)

    async def request_with_headers(
        self, spec: RequestSpec, *, conflict: type[ConflictError] = ConflictError
    ) -> tuple[Any, httpx.Headers]:
        """Send a request to the deployment; return its JSON answer and the answer's headers."""
        return await self.http.request_with_headers(await self.endpoint(), spec, conflict=conflict)

    async def _resolve(self) -> Deployment:
        settings = self.settings
        if settings.deployment_url is not None:
            return await self._resolve_direct(settings.deployment_url)
        name = settings.graph_name
        if name is None:  # ClientSettings allows no graph in direct mode only
            raise InputError("a client that resolves its graph through the marketplace needs graph_name")
        spec = build(
            "marketplace.get_graph_info",
            body_model="GraphInfoRequest",
            body={"graph_name": name},
            package=MARKETPLACE,
        )
        answer = await self.http.request(self.marketplace, spec)
        deployment = deployment_from_graph_info(name, answer, allow_insecure_http=self.allow_insecure_http)
        logger.info("resolved graph %r to %s", name, deployment.url)
        return deployment

    async def _resolve_direct(self, url: str) -> Deployment:
        """Direct mode: the graph name is an assistant id or a graph id on that server.

        Without a graph name the server is only reached: one cheap search proves it answers and takes
        the key, and each run names its assistant.
        """
        settings = self.settings
        checked = check_deployment_url(
            url, allow_insecure_http=self.allow_insecure_http, argument="deployment_url"
        )
        endpoint = agent_server_endpoint(checked, settings.deployment_key)
        name = settings.graph_name
        if name is None:
            probe = build(
                "assistants.search_assistants", body_model="AssistantSearchRequest", body={"limit": 1}
            )
            await self.http.request(endpoint, probe)
            assistant_id = None
        else:
            assistant_id = await self._find_assistant(endpoint, name)
        return Deployment(
            graph_name=name,
            url=checked,
            assistant_id=assistant_id,
            api_key=settings.deployment_key,
            via_marketplace=False,
        )

    async def _find_assistant(self, endpoint: Endpoint, name: str) -> str:
        """The id of the assistant `name` names on a server: an assistant id, else a graph id."""
        lookup = build("assistants.get_assistant", name)
        try:
            assistant = await self.http.request(endpoint, lookup)
        except LmsystemsError as error:
            if error.status_code not in (404, 422):  # 422: not a UUID, so maybe a graph id
                raise
            search = build(
                "assistants.search_assistants",
                body_model="AssistantSearchRequest",
                body={"graph_id": name, "limit": 1},
            )
            try:
                found = await self.http.request(endpoint, search)
            except LmsystemsError as search_error:
                if search_error.status_code not in (404, 422):
                    raise
                found = []
            if not found:
                raise GraphNotFoundError(
                    f"no graph or assistant named {name!r} on the Agent Server at {endpoint.base_url}",
                    status_code=error.status_code,  # the lookup's 404 (or 422: not an assistant id)
                    request_id=error.request_id,
                    body=error.body,
                ) from error
            assistant = list_answer(found, call=search, items_with=("assistant_id",))[0]
        return str(field_of(assistant, "assistant_id", call=lookup))

    def assistant_for_run(self, assistant_id: str | None) -> None:
        """Refuse, before any request, a run that names no assistant on a client that has no graph."""
        if assistant_id is None and self.settings.graph_name is None:
            raise InputError(
                "this client has no graph (it was created with deployment_url and no graph_name): "
                "pass assistant_id=... (a graph id or an assistant id) to run one"
            )

    async def track_run(self, run_id: str | None) -> None:
        """Tell the marketplace a run started; never fails the caller (usage tracking is best effort)."""
        deployment = self.resolved
        if run_id is None or deployment is None or not deployment.via_marketplace:
            return
        spec = build(
            "marketplace.track_run",
            body_model="TrackRunRequest",
            body={"graph_name": self.settings.graph_name, "run_id": run_id},
            package=MARKETPLACE,
        )
        try:
            await self.http.request(self.marketplace, spec, timeout=TRACK_RUN_TIMEOUT, max_retries=0)
        except LmsystemsError as error:
            logger.warning("could not record run %s with the marketplace: %s", run_id, error)

    async def aclose(self) -> None:
        await self.http.aclose()
        for secret in self._secret_values:
            self._secrets.discard(secret)
        self._secret_values = []
