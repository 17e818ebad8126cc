"""Distributed ingestion: ``enroll-dir``'s photo analysis on a Ray cluster against the local process
pool, in one run.

Takes the first --photos LFW photos (identities in name order), links them into a per-identity
folder, and enrolls them into a fresh gallery per row through the engine
(``Engine.enroll_directory``, what ``enroll-dir`` calls), timing each run whole (workers started and
their models loaded included):

- local: ``--workers 1`` (the analysis in this process) and ``--workers N`` (N spawned processes);
- Ray: a cluster on 127.0.0.1 of a head (no CPU of its own) and N one-CPU worker nodes, each with
  its own raylet and object store (``ray.cluster_utils.Cluster``), used by 1 and then N Ray workers;
  the photos travel to them as bytes, as they would to other machines.

On one machine Ray's shipping and scheduling cost shows and its gain cannot: the rows measure what
Ray costs against the local pool on the same cores, not the speed-up of more machines. With
``--rounds 2`` (the default) every way runs twice, the second round in reverse order, so that a load
drifting on a shared machine weighs on every row alike; the table shows each round and the mean.

    pip install 'facesearch[ray]'
    python bench/ray_ingest.py [--photos 300] [--workers 2] [--rounds 2]

Results: a table on stdout and ``bench/out/ray_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import facesearch
from facesearch.evaluation import load_dataset

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared/data/lfw"
OBJECT_STORE_BYTES = 80 * 2**20


def enroll(home: Path, photos: Path, workers: int, ray_address: str = "") -> dict[str, Any]:
    """One enroll-dir run into a new gallery at HOME: its seconds and what it enrolled."""
    with facesearch.init(home, actor="bench", settings=facesearch.Settings(ray_address=ray_address)) as engine:
        engine.accounts.add_user("loader", "enroller")
        engine.retention.set_period(3650)  # a gallery takes no enrollment before it has one
        start = time.perf_counter()
        result = engine.acting_as("loader").enroll_directory(
            photos, source="LFW benchmark", basis="legitimate-interest", workers=workers
        )
        seconds = time.perf_counter() - start
    return dict(seconds=seconds, enrolled=result.enrolled, rejected=len(result.rejected))


def start_cluster(workers: int) -> Any:
    """A loopback Ray cluster: a head without CPU and WORKERS one-CPU worker nodes."""
    import ray._private.ray_constants as ray_constants
    from ray.cluster_utils import Cluster

    # Ray replaces a loopback address with this machine's outward one when connecting; this switch
    # (meant for single-machine clusters) keeps 127.0.0.1, where the cluster listens.
    ray_constants.ENABLE_RAY_CLUSTER = False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    src = str(Path(facesearch.__file__).resolve().parents[1])  # the workers import this facesearch
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    node = {"object_store_memory": OBJECT_STORE_BYTES, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(
        initialize_head=True, connect=False, head_node_args={"num_cpus": 0, "include_dashboard": False, **node}
    )
    for _ in range(workers):
        cluster.add_node(num_cpus=1, **node)
    cluster.wait_for_nodes()
    return cluster


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2, help="local processes, and Ray worker nodes")
    ap.add_argument("--rounds", type=int, default=2, help="runs of every way, alternately forward and reversed")
    args = ap.parse_args()
    dataset = load_dataset(args.lfw)
    chosen = [dataset.paths[i] for i in range(min(args.photos, len(dataset)))]
    work = Path(tempfile.mkdtemp(prefix="fs-ray-ingest-"))
    if not (os.environ.get("FACESEARCH_MASTER_KEY") or os.environ.get("FACESEARCH_MASTER_KEY_FILE")):
        os.environ["FACESEARCH_MASTER_KEY_FILE"] = str(work / "master.key")  # not the user's own key
    plan = [("local, in this process", 1, False)]
    plan += [(f"local process pool, --workers {args.workers}", args.workers, False)]
    plan += [(f"Ray, {n} worker{'s' * (n > 1)} (--ray, --workers {n})", n, True) for n in sorted({1, args.workers})]
    times: dict[str, list[float]] = {label: [] for label, _, _ in plan}
    outcome: dict[str, tuple[int, int]] = {}
    cluster = None
    try:
        photos = work / "by_identity"
        for src in chosen:  # links: the LFW images are never copied
            (photos / src.parent.name).mkdir(parents=True, exist_ok=True)
            (photos / src.parent.name / src.name).symlink_to(src)
        cluster = start_cluster(args.workers)  # up for every row: its idle processes weigh on all alike
        for round_ in range(args.rounds):
            for label, workers, on_ray in plan if round_ % 2 == 0 else plan[::-1]:
                home = work / f"home{round_}-{len(times[label])}-{plan.index((label, workers, on_ray))}"
                run = enroll(home, photos, workers, cluster.address if on_ray else "")
                times[label].append(run["seconds"])
                outcome[label] = (run["enrolled"], run["rejected"])
                print(f"round {round_ + 1}, {label}: {run['seconds']:.1f} s", flush=True)
    finally:
        if cluster is not None:
            cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        dict(run=label, photos=len(chosen), seconds=times[label], mean_s=sum(times[label]) / len(times[label]))
        | dict(zip(("enrolled", "rejected"), outcome[label], strict=True))
        for label, _, _ in plan
    ]
    table = Table(title=f"enroll-dir of {len(chosen):,} LFW photos, local processes and Ray (workers started included)")
    for col in ("run", "seconds per round", "mean s", "photos/s", "vs local pool", "enrolled", "rejected"):
        table.add_column(col, justify="left" if col == "run" else "right")
    pool = rows[1]["mean_s"]
    for r in rows:
        table.add_row(
            r["run"],
            ", ".join(f"{t:.1f}" for t in r["seconds"]),
            f"{r['mean_s']:.1f}",
            f"{len(chosen) / r['mean_s']:.1f}",
            f"{pool / r['mean_s']:.2f}x",
            str(r["enrolled"]),
            str(r["rejected"]),
        )
    Console(width=160).print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ray_ingest.json").write_text(json.dumps(dict(rows=rows, cpus=os.cpu_count()), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
