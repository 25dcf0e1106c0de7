"""``synthgen dedup --executor ray``: the same decisions as the local dedup, computed on a Ray cluster.

1. **Signatures per block** (Ray Data ``map_batches``): each chunk of rows is decoded, pre-checked and
   sketched by the same :func:`.sketch.sketch_chunk` the local executor runs.
2. **Band keys grouped** (shuffle): every sketched chunk emits its (band, key, row) triples (plus the exact
   keys as one more band) split into partitions by key; ``groupby("partition").map_groups`` brings each
   bucket's rows together and emits the pairs that share a bucket.
3. **Candidate pairs verified** (``map_batches``): Ĵ of each pair from the signatures (broadcast for the
   rows that appear in a pair); an edge when the exact key is shared or Ĵ ≥ threshold on a shared band.
4. **Connected components** of the verified edges (driver, scipy), each resolved in input order by the
   engine's rule (:func:`.components.resolve_component`, on the driver: only rows with an edge get there).
5. **Write** (Ray tasks): kept / rejected parts per chunk, merged into the two parquet files.

Parts go to ``OUT/.parts``: on a multi-node cluster ``--out`` must be on a filesystem every node sees.
Reference scopes (``--against``, ``--history``) are not supported on Ray yet: the command says so.
"""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import SynthgenError
from .chunks import iter_chunks, with_data
from .components import EXACT_BAND, bucket_pairs, components, merge_pairs, partition_of, resolve_component
from .minhash import estimate_jaccard
from .scopes import EXACT_DUPLICATE, NEAR_DUPLICATE, Match
from .sketch import init_worker, sketch_chunk, write_chunk
from .streaming import Plan, StreamResult, _by_chunk, collect_parts


def connect(address: str | None, workers: int) -> Any:
    """``ray.init``: the cluster at ``address`` (or ``RAY_ADDRESS``), else a local one with ``workers``
    CPUs. An unreachable address is one clear error (Ray itself would retry for minutes)."""
    import os

    try:
        import ray
    except ImportError:
        raise SynthgenError("--executor ray needs Ray Data", hint="pip install 'synthgen[ray]'") from None
    address = address or os.environ.get("RAY_ADDRESS")
    remote = bool(address) and address not in ("auto", "local")
    if remote:
        _check_reachable(address)
    if ray.is_initialized():
        return _quiet(ray)
    if remote:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(num_cpus=workers, log_to_driver=False, configure_logging=False, include_dashboard=False)
    return _quiet(ray)


def _quiet(ray: Any) -> Any:
    """Ray Data's per-dataset INFO lines and progress bars off (synthgen prints its own summary)."""
    import logging

    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    host_port = address.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise SynthgenError(f"--address {address}: expected host:port (or ray://host:port)",
                            hint="the address `ray start --head` printed, e.g. 10.0.0.5:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise SynthgenError(f"--address {address}: no Ray cluster reachable ({exc.strerror or exc})",
                            hint="start one with `ray start --head`, or drop --address for a local cluster") from None


class _Sketcher:
    """Ray Data actor: a worker set up once (word-hash cache, compiled kernel), then one chunk per batch."""

    def __init__(self, settings):
        init_worker(settings)

    def __call__(self, batch: dict) -> dict:
        sketches = [sketch_chunk(chunk) for chunk in batch["chunk"]]
        return {"index": np.array([s.index for s in sketches]), "sketch": np.array(sketches + [None], object)[:-1]}


def _fragments(partitions: int, exact_on: bool, near_on: bool):
    def emit(row: dict) -> list[dict]:
        chunk = row["sketch"]
        active = np.ones(len(chunk), bool)
        active[list(chunk.early)] = False
        local = np.flatnonzero(active)
        bands, keys, rows = [], [], []
        if exact_on:
            bands.append(np.full(len(local), EXACT_BAND))
            keys.append(chunk.exact[local])
            rows.append(local)
        signed = np.flatnonzero(active & chunk.has_sig)
        if near_on:
            for band in range(chunk.bands.shape[1]):
                bands.append(np.full(len(signed), band))
                keys.append(chunk.bands[signed, band])
                rows.append(signed)
        if not bands:
            return []
        bands, keys, rows = np.concatenate(bands), np.concatenate(keys), np.concatenate(rows) + chunk.start
        part = partition_of(keys, partitions)
        return [{"partition": p, "bands": bands[part == p], "keys": keys[part == p], "rows": rows[part == p]}
                for p in range(partitions)]
    return emit


def _pairs_of_group(group: dict) -> dict:
    i, j, exact = bucket_pairs(np.concatenate(list(group["bands"])), np.concatenate(list(group["keys"])),
                               np.concatenate(list(group["rows"])))
    return {"i": i, "j": j, "exact": exact}


def _verify(sig_rows, sig_matrix, threshold: float, exact_on: bool, near_on: bool):
    def verify(batch: dict) -> dict:
        i, j = batch["i"], batch["j"]
        jac = estimate_jaccard(sig_matrix[np.searchsorted(sig_rows, i)], sig_matrix[np.searchsorted(sig_rows, j)])
        exact_edge = batch["by_exact"] & exact_on
        near_edge = batch["by_band"] & near_on & (jac >= threshold)
        keep = exact_edge | near_edge
        return {"i": i[keep], "j": j[keep], "jac": jac[keep], "exact_edge": exact_edge[keep], "near_edge": near_edge[keep]}
    return verify


def _meta(batch: dict) -> dict:
    """The light part of each sketch for the driver: ids, early verdicts, column check."""
    chunks = list(batch["sketch"])
    return {"index": np.array([c.index for c in chunks]),
            "meta": np.array([(c.start, c.ids, c.early, c.with_field, c.columns) for c in chunks] + [None], object)[:-1]}


def _signatures_of(wanted: np.ndarray):
    def select(batch: dict) -> dict:
        rows, sigs = [], []
        for chunk in batch["sketch"]:
            local = wanted[(wanted >= chunk.start) & (wanted < chunk.start + len(chunk))] - chunk.start
            rows.append(local + chunk.start)
            sigs.append(chunk.sigs[local])
        return {"rows": np.concatenate(rows), "sigs": np.concatenate(sigs)}
    return select


def _numpy_rows(ds: Any, columns: list[str]) -> dict[str, np.ndarray]:
    """Concatenate the named columns of every batch of ``ds`` on the driver."""
    parts: dict[str, list] = {name: [] for name in columns}
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        for name in columns:
            parts[name].append(batch[name])
    return {name: np.concatenate(values) if values else np.empty(0) for name, values in parts.items()}


def ray_dedup(plan: Plan, out: Path, address: str | None = None) -> StreamResult:
    """Run the passes of the module docstring on Ray; same outputs as :func:`.streaming.stream_dedup`."""
    if plan.references or plan.history is not None:
        raise SynthgenError("--against and --history are not supported with --executor ray yet",
                            hint="run them with the local executor (the default)")
    ray = connect(address, plan.workers)
    chunks = [with_data(chunk, plan.source) for chunk in iter_chunks(plan.source, plan.chunk_rows)]
    source = ray.data.from_items([{"chunk": c} for c in chunks], override_num_blocks=max(len(chunks), 1))
    sketched = source.map_batches(_Sketcher, fn_constructor_args=(plan.settings,), batch_size=1,
                                  concurrency=plan.workers, batch_format="numpy").materialize()
    meta = sorted((int(i), m) for b in sketched.map_batches(_meta, batch_format="numpy").iter_batches(
        batch_format="numpy", batch_size=None) for i, m in zip(b["index"], b["meta"]))
    starts, ids, verdicts = _collect_meta(plan, [m for _, m in meta])
    edges = _verified_edges(ray, plan, sketched)
    verdicts.update(_resolve_components(len(ids), ids, edges))
    out.mkdir(parents=True, exist_ok=True)
    paths = _write(ray, plan, chunks, _by_chunk(verdicts, starts), out)
    reasons = Counter(verdicts[row].reason for row in sorted(verdicts))
    kept = len(ids) - len(verdicts)
    settings = {"dedup": {**plan.describe, "scopes": plan.describe["scopes"] | {"run": kept}}}
    if plan.settings.decontaminator is not None:
        settings["decontam"] = plan.settings.decontaminator.describe()
    return StreamResult(len(ids), kept, reasons, settings, paths)


def _collect_meta(plan: Plan, meta: list) -> tuple[np.ndarray, list[str], dict[int, Match]]:
    if meta and not any(m[3] for m in meta):
        columns = ", ".join(sorted(meta[0][4]))
        raise SynthgenError(f"{plan.source}: no {plan.settings.text_field!r} column",
                            hint=f"pass --text-field; columns are: {columns}")
    starts = np.array([m[0] for m in meta], np.int64)
    ids = [i for m in meta for i in m[1]]
    verdicts = {m[0] + row: match for m in meta for row, match in m[2].items()}
    return starts, ids, verdicts


def _verified_edges(ray: Any, plan: Plan, sketched: Any) -> dict[str, np.ndarray]:
    """Shuffle band keys into partitions, pair rows per bucket, verify the pairs on their signatures."""
    params = plan.params
    partitions = max(plan.workers * 2, 2)
    fragments = sketched.flat_map(_fragments(partitions, params.exact, params.near))
    pairs = fragments.groupby("partition", num_partitions=partitions).map_groups(_pairs_of_group, batch_format="numpy")
    found = _numpy_rows(pairs, ["i", "j", "exact"])
    i, j, by_exact, by_band = merge_pairs(found["i"].astype(np.int64), found["j"].astype(np.int64),
                                          found["exact"].astype(bool))
    if not len(i):
        return {"i": i, "j": j, "jac": np.empty(0), "exact_edge": by_exact, "near_edge": by_band}
    wanted = np.unique(np.concatenate([i, j]))
    picked = _numpy_rows(sketched.map_batches(_signatures_of(wanted), batch_format="numpy"), ["rows", "sigs"])
    order = np.argsort(picked["rows"])
    sig_rows, sig_matrix = picked["rows"][order], picked["sigs"][order]
    import pyarrow as pa

    candidates = ray.data.from_arrow(pa.table({"i": i, "j": j, "by_exact": by_exact, "by_band": by_band}))
    verify = _verify(sig_rows, sig_matrix, params.threshold, params.exact, params.near)
    return _numpy_rows(candidates.map_batches(verify, batch_format="numpy"),
                       ["i", "j", "jac", "exact_edge", "near_edge"])


def _resolve_components(n_rows: int, ids: list[str], edges: dict[str, np.ndarray]) -> dict[int, Match]:
    """Label the verified edges' components, then decide each component in input order."""
    i, j = edges["i"].astype(np.int64), edges["j"].astype(np.int64)
    if not len(i):
        return {}
    labels = components(n_rows, i, j)
    edge_label = labels[i]
    order = np.argsort(edge_label, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_label[order])) + 1
    verdicts: dict[int, Match] = {}
    for group in np.split(order, bounds):
        rows = np.unique(np.concatenate([i[group], j[group]]))
        for row, reason, match, score in resolve_component(rows, i[group], j[group], edges["jac"][group],
                                                           edges["exact_edge"][group], edges["near_edge"][group]):
            reason = EXACT_DUPLICATE if reason == "exact_duplicate" else NEAR_DUPLICATE
            verdicts[row] = Match(reason, "run", ids[match], score)
    return verdicts


def _write_task(settings, job):
    init_worker(settings)
    return write_chunk(job)


def _write(ray: Any, plan: Plan, chunks: list, verdicts: list[dict[int, Match]], out: Path) -> dict[str, Path]:
    def produce(parts_dir: Path) -> Iterable[tuple[Any, Any]]:
        task, settings = ray.remote(_write_task), ray.put(plan.settings)
        refs = [task.remote(settings, (chunk, verdicts[chunk.index], parts_dir)) for chunk in chunks]
        return (ray.get(ref) for ref in refs)

    return collect_parts(out, produce)
