"""Photo analysis on a Ray cluster: the jobs the local process pool runs, run by Ray actors on the
cluster's machines instead, each of which builds one pipeline and loads its models once.

What runs where: this process (the coordinator) reads each photo and ships its bytes (a worker on
another machine cannot read this machine's paths), keeps at most ``IN_FLIGHT_PER_WORKER`` items
queued on each worker, and hands the results back in order to its caller, which alone touches the
gallery: every commit, audit event and policy check stays here, exactly as with the local pool.

A worker that dies (its process killed, its machine gone) costs the items it had not finished: each
comes back as ``run.lost(item, why)``, the run goes on with the workers left, and a rerun analyses
them again. Ray does not restart the actor nor retry its tasks: a photo that kills its worker (a
decoder crash) would otherwise kill the next one too. Ray is imported only here, when a run starts.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from facesearch import extras
from facesearch.errors import FacesearchError, RayClusterError

T = TypeVar("T")
R = TypeVar("R")
P = TypeVar("P")

IN_FLIGHT_PER_WORKER = 2  # items queued on a worker: one running, one ready to start as it finishes
STARTUP_TIMEOUT_S = 300.0  # for every worker to start its process and import facesearch
CONNECT_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class RayRun(Generic[T, R]):
    """How a job's items go to a Ray cluster: ``address`` of its head ('HOST:PORT', 'auto' or a
    'ray://' client address), ``ship`` turning an item into one a worker elsewhere can use (photos as
    bytes), and ``lost`` the result standing for an item whose worker died (``why`` says so)."""

    address: str
    ship: Callable[[T], T]
    lost: Callable[[T, str], R]


class PhotoAnalyst:
    """A Ray actor: one pipeline for the worker process it lives in, its models loaded on first use."""

    def __init__(self, make_pipeline: Callable[[], Any], environment: Mapping[str, str]) -> None:
        os.environ.update(environment)  # before any model starts its thread pools
        self._pipeline = make_pipeline()

    def ready(self) -> int:
        return os.getpid()

    def run(self, job: Callable[[Any, Any], Any], item: Any) -> tuple[Any, FacesearchError | None]:
        try:
            return job(item, self._pipeline), None
        except FacesearchError as exc:  # sent back whole, raised by the coordinator as here
            return None, exc


@dataclasses.dataclass
class _Task:
    ref: Any  # the Ray object reference of the result
    worker: int
    item: Any
    done: bool = False
    result: Any = None
    error: FacesearchError | None = None


def map_on_ray(
    job: Callable[[T, P], R],
    items: Sequence[T],
    make_pipeline: Callable[[], P],
    workers: int,
    run: RayRun[T, R],
    environment: Mapping[str, str] | None = None,
) -> Iterator[R]:
    """``job(item, pipeline)`` for every item, results in order, on ``workers`` actors of the cluster
    (every CPU it has when ``workers`` is below 1, and never more), each building its pipeline with
    ``make_pipeline`` after setting ``environment``. ``job`` must be a module-level function."""
    ray, connected_here = _connect(run.address)
    actors: list[Any] = []
    try:
        actors = _start(ray, make_pipeline, workers, run.address, environment or {})
        yield from _dispatch(ray, job, items, actors, run)
    finally:
        for actor in actors:
            ray.kill(actor)
        if connected_here:
            ray.shutdown()


def _connect(address: str) -> tuple[Any, bool]:
    """The ray module, connected to the cluster at ADDRESS (unless this process already is)."""
    extras.require("ray", "photo analysis on a Ray cluster (--ray, setting ray_address)")
    import ray

    if ray.is_initialized():
        return ray, False
    _check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise RayClusterError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from None
    return ray, True


def _check_reachable(address: str) -> None:
    """Refuse at once a HOST:PORT nothing listens on (ray.init would keep retrying for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto', or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise RayClusterError(
            f"no Ray cluster answers at {address!r} ({exc}): start one with 'ray start --head' and give the "
            "head's HOST:PORT"
        ) from None


def _start(
    ray: Any, make_pipeline: Callable[[], Any], workers: int, address: str, environment: Mapping[str, str]
) -> list[Any]:
    """Started actors, one CPU each, every one answering: their process runs facesearch."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise RayClusterError(
            f"the Ray cluster at {address!r} has no CPU to run workers on: add worker nodes "
            "('ray start --address HEAD:PORT --num-cpus N' on each machine)"
        )
    count = cpus if workers < 1 else min(workers, cpus)
    analyst = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(PhotoAnalyst)
    actors = [analyst.remote(make_pipeline, dict(environment)) for _ in range(count)]
    try:
        ray.get([actor.ready.remote() for actor in actors], timeout=STARTUP_TIMEOUT_S)
    except Exception as exc:  # the actor's own error (facesearch missing there, a model file) or a timeout
        for actor in actors:
            ray.kill(actor)
        raise RayClusterError(f"the Ray cluster at {address!r} could not start facesearch's workers: {exc}") from None
    return actors


def _dispatch(ray: Any, job: Callable[..., R], items: Sequence[T], actors: list[Any], run: RayRun[T, R]) -> Iterator[R]:
    """Results in the items' order; each item sent to the least-loaded live worker as a place frees."""
    from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError

    dead_worker = (RayActorError, WorkerCrashedError, ObjectLostError)
    queue: collections.deque[_Task] = collections.deque()
    load = dict.fromkeys(range(len(actors)), 0)
    alive = set(load)
    source = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(queue) < IN_FLIGHT_PER_WORKER * len(actors):
            free = [w for w in alive if load[w] < IN_FLIGHT_PER_WORKER]
            if not free:
                break
            item = next(source, _END)
            if item is _END:
                exhausted = True
                break
            worker = min(free, key=lambda w: load[w])
            queue.append(_Task(actors[worker].run.remote(job, run.ship(item)), worker, item))
            load[worker] += 1
        if not queue:  # everything done, or no worker left for what remains
            for item in source:
                yield run.lost(item, "no Ray worker was left to analyse it")
            return
        if not queue[0].done:
            waiting = {task.ref: task for task in queue if not task.done}
            finished, _ = ray.wait(list(waiting), num_returns=1)
            for ref in finished:
                task = waiting[ref]
                task.done = True
                load[task.worker] -= 1
                try:
                    task.result, task.error = ray.get(ref)
                except dead_worker as exc:
                    alive.discard(task.worker)
                    task.result = run.lost(task.item, _why(exc))
        while queue and queue[0].done:
            task = queue.popleft()
            if task.error is not None:
                raise task.error
            yield task.result


_END: Any = object()


def _why(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"the Ray worker analysing it stopped before finishing ({type(exc).__name__}: {first})"
