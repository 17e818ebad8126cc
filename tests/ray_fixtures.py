"""A real Ray cluster for the tests: a head and two worker nodes, each node its own processes (a
raylet, an object store of 80 MB), on 127.0.0.1 only, one CPU per worker node and none on the head, so
that photo analysis runs in the workers' processes. Started once per session with
``ray.cluster_utils.Cluster`` (Ray's own multi-node test cluster) and shut down at its end.

Without Ray installed the tests that need it skip with the reason; with ``FACESEARCH_REQUIRE_RAY=1``
(CI) they fail instead, so a broken cluster is never a quiet skip.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

import facesearch

from helpers import server_missing

REQUIRE_ENV = "FACESEARCH_REQUIRE_RAY"
OBJECT_STORE_BYTES = 80 * 2**20
WORKER_NODES = 2


def _unavailable(reason: str) -> None:
    server_missing(
        REQUIRE_ENV,
        f"Ray is required ({REQUIRE_ENV}=1) but {reason}",
        f"no Ray cluster: {reason} (pip install 'facesearch[ray]')",
    )


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address (HOST:PORT) of a running Ray cluster of a head and two one-CPU worker nodes."""
    if importlib.util.find_spec("ray") is None:
        _unavailable("Ray is not installed")
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    src = str(Path(facesearch.__file__).resolve().parents[1])  # the workers import this facesearch
    with pytest.MonkeyPatch.context() as patch:
        # Ray replaces a loopback address with this machine's outward one when connecting, where this
        # loopback-only cluster does not listen; its switch for single-machine clusters keeps 127.0.0.1.
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p))
        node = {"object_store_memory": OBJECT_STORE_BYTES, "node_ip_address": "127.0.0.1"}
        try:
            cluster = Cluster(
                initialize_head=True, connect=False, head_node_args={"num_cpus": 0, "include_dashboard": False, **node}
            )
        except Exception as exc:  # whatever Ray raises, its reason is reported
            _unavailable(f"the head node did not start: {exc}")
        try:
            for _ in range(WORKER_NODES):
                cluster.add_node(num_cpus=1, **node)
            cluster.wait_for_nodes()
            yield cluster.address
        finally:
            cluster.shutdown()


def analyst_pids() -> list[int]:
    """The processes of the cluster's photo analysts (Ray names each after its actor class)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::PhotoAnalyst"):
            found.append(int(entry.name))
    return found


def kill_one_analyst() -> int:
    """SIGKILL one photo analyst's process, as a machine dies: no cleanup, no goodbye."""
    pids = analyst_pids()
    assert pids, "no photo analyst is running"
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]
