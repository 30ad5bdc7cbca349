"""The production-shaped test bed: two langgraph-api 0.11.1 replicas on Postgres and Redis, behind our
round-robin load balancer (:mod:`support.distributed`). Collected only by ``nox -s distributed``.

* ``cluster`` -> :class:`support.distributed.Cluster` (session scope; ``.url`` is the balancer's);
* ``plan`` -> the balancer's :class:`~support.fault_proxy.FaultPlan`, emptied for each test;
* ``live_cluster`` -> the cluster, with both replicas restarted first if a test killed one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.distributed import Cluster, start_cluster
from support.fault_proxy import FaultPlan

#: The cluster's langgraph.json: the shared test graphs, the shared auth and a ticker graph.
CLUSTER_CONFIG_DIR = Path(__file__).resolve().parent / "agent_server"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with start_cluster(
        CLUSTER_CONFIG_DIR, deployment_key=f"lms_test_deployment_{secrets.token_hex(16)}"
    ) as running:
        yield running


@pytest.fixture
def live_cluster(cluster: Cluster) -> Cluster:
    """The cluster with every replica up (a test that killed one leaves it for the next to restart)."""
    cluster.revive()
    return cluster


@pytest.fixture
def plan(live_cluster: Cluster) -> FaultPlan:
    """A fresh fault plan on the balancer: nothing broken, nothing recorded."""
    fresh = FaultPlan(seed=0)
    live_cluster.balancer.use_plan(fresh)
    return fresh
