"""A history index shared across machines and runs: datasketch's ``MinHashLSH`` on Redis storage.

``[dedup] history = "redis://host:port/db"`` (or ``synthgen dedup --history redis://…``). synthgen's
signatures go into the index as ``datasketch.LeanMinHash(seed, hashvalues, scheme="affine32")``: they are
bit-compatible with datasketch's own MinHash (same permutations, same hash values), and the LSH is built
with synthgen's band geometry (``params=(bands, rows)``), so datasketch's buckets are synthgen's bands.

Keys in the Redis database (``<ns>`` = ``synthgen-history``)::

    <ns>_bucket_…, <ns>_keys…   datasketch MinHashLSH storage (bucket → record keys, record → band hashes)
    <ns>:meta                   num_perm, seed, ngram, hash scheme, bands, rows (checked like the folder index)
    <ns>:sig                    record key → signature (uint32 × num_perm, little-endian)
    <ns>:exact                  exact key (8 bytes) → the first record key with that normalized text
    <ns>:rexact                 record key → its exact key (to release ``<ns>:exact`` entries on a re-run)
    <ns>:run:<run key>          the record keys one run wrote (a re-run replaces them)

A record key is ``<run key>\\x1f<record id>``. As with the folder index, a run reads every other run's
records and writes only its own; candidates from the LSH are verified on their signatures (Ĵ ≥ threshold).
"""

from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import unquote, urlparse

import numpy as np

from ..errors import SynthgenError
from .index import HistoryMismatch, run_key
from .minhash import HASH_SCHEME, estimate_jaccard
from .scopes import Match, RunScope, SketchSet

NAMESPACE = "synthgen-history"
SEP = b"\x1f"


def is_redis_url(location: Any) -> bool:
    return isinstance(location, str) and location.startswith(("redis://", "rediss://", "unix://"))


def _connection(url: str) -> dict[str, Any]:
    """redis-py connection arguments of a ``redis://[:password@]host:port/db`` URL (datasketch's format)."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return {"unix_socket_path": parsed.path}
    db = parsed.path.strip("/") or "0"
    if not db.isdigit():
        raise SynthgenError(f"{url}: the database must be a number (redis://host:port/0)",
                            hint="write the history as redis://host:port/db")
    args = {"host": parsed.hostname or "localhost", "port": parsed.port or 6379, "db": int(db)}
    if parsed.password:
        args["password"] = unquote(parsed.password)
    if parsed.username:
        args["username"] = unquote(parsed.username)
    if parsed.scheme == "rediss":
        args["ssl"] = True
    return args


class RedisHistory:
    """The Redis-backed history: settings check, reference scope, writer (see the module docstring)."""

    def __init__(self, url: str, num_perm: int, bands: int, rows: int, namespace: str = NAMESPACE):
        try:
            import redis
            from datasketch import MinHashLSH
        except ImportError:
            raise SynthgenError("a redis:// dedup history needs the redis package",
                                hint="pip install 'synthgen[redis]'") from None
        self.url, self.num_perm, self.bands, self.rows, self.ns = url, num_perm, bands, rows, namespace
        args = _connection(url)
        self.client = redis.Redis(**args, socket_connect_timeout=5)
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise SynthgenError(f"{url}: cannot reach the Redis dedup history ({exc})",
                                hint="start redis-server there, or fix the history's URL") from None
        config = {"type": "redis", "basename": namespace.encode(), "redis": args}
        self.lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows), storage_config=config, prepickle=False)

    def key(self, suffix: str) -> str:
        return f"{self.ns}:{suffix}"

    def meta(self) -> dict[str, Any] | None:
        raw = self.client.hgetall(self.key("meta"))
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    def check(self, num_perm: int, seed: int, ngram: int | None) -> int | None:
        """Fail when the index was built with other settings; return its n-gram size (None if new)."""
        meta = self.meta()
        if meta is None:
            return None
        ours = {"num_perm": num_perm, "seed": seed, "hash": HASH_SCHEME, "bands": self.bands, "rows": self.rows,
                "ngram": ngram or int(meta.get("ngram", 0))}
        theirs = {k: (meta.get(k) if k == "hash" else int(meta.get(k, -1))) for k in ours}
        if ours != theirs:
            raise HistoryMismatch(self.url, {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs[k]},
                                  "Redis dedup history", "here", "set [dedup] to the index's values, or use another "
                                                                 "Redis database")
        return int(meta["ngram"])

    def ensure_meta(self, seed: int, ngram: int) -> None:
        meta = {"num_perm": self.num_perm, "seed": seed, "ngram": ngram, "hash": HASH_SCHEME,
                "bands": self.bands, "rows": self.rows}
        if self.meta() is None:
            self.client.hset(self.key("meta"), mapping=meta)

    def scope(self, exclude: str | None) -> "RedisHistoryScope":
        return RedisHistoryScope(self, run_key(exclude or ""))

    def writer(self, label: str, seed: int) -> "RedisHistoryWriter":
        return RedisHistoryWriter(self, run_key(label), seed)


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> list[list[bytes]]:
    """Per band, the bucket key datasketch's MinHashLSH stores for each signature (its ``_byteswap`` of
    the band's hash values); tested equal to ``MinHashLSH.query`` on the same ``LeanMinHash``."""
    values = np.ascontiguousarray(sigs, np.uint32).byteswap()
    return [[bytes(row[b * rows:(b + 1) * rows].data) for row in values] for b in range(bands)]


class RedisHistoryScope:
    """A reference scope (same interface as :class:`.scopes.FrozenScope`) answered by Redis, batch-wise."""

    name = "history"

    def __init__(self, history: RedisHistory, exclude: str):
        self.history, self.exclude = history, exclude.encode() + SEP
        self.record_keys: list[bytes] = []
        self._rows: dict[bytes, int] = {}
        self._sigs: dict[bytes, np.ndarray] = {}

    def __len__(self) -> int:
        own = self.history.client.scard(self.history.key(f"run:{self.exclude[:-1].decode()}"))
        return max(self.history.lsh.keys.size() - own, 0)

    def _row(self, record: bytes) -> int:
        if record not in self._rows:
            self._rows[record] = len(self.record_keys)
            self.record_keys.append(record)
        return self._rows[record]

    def _ours(self, record: bytes | None) -> bool:
        return record is None or record.startswith(self.exclude)

    def exact_matches(self, keys: np.ndarray) -> np.ndarray:
        """Row of the first other-run record with the same exact key, or −1."""
        found = np.full(len(keys), -1, np.int64)
        if not len(keys):
            return found
        records = self.history.client.hmget(self.history.key("exact"), [int(k).to_bytes(8, "little") for k in keys])
        for i, record in enumerate(records):
            if not self._ours(record):
                found[i] = self._row(record)
        return found

    def near_matches(self, sigs: np.ndarray, keys: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Best other-run record with Ĵ ≥ threshold per query (ties: the smallest record key), and Ĵ."""
        best, best_j = np.full(len(sigs), -1, np.int64), np.zeros(len(sigs))
        candidates = self._candidates(sigs)
        self._fetch_sigs({c for found in candidates for c in found})
        for i, found in enumerate(candidates):
            if not found:
                continue
            ordered = sorted(found)
            jac = estimate_jaccard(np.stack([self._sigs[c] for c in ordered]), sigs[i])
            top = int(np.argmax(jac))
            if jac[top] >= threshold:
                best[i], best_j[i] = self._row(ordered[top]), float(jac[top])
        return best, best_j

    def _candidates(self, sigs: np.ndarray) -> list[set[bytes]]:
        """Record keys sharing a band with each signature: one pipelined round trip per band."""
        found: list[set[bytes]] = [set() for _ in range(len(sigs))]
        signed = np.flatnonzero(~(sigs == np.uint32(0xFFFFFFFF)).all(axis=1))
        if not len(signed):
            return found
        for table, hashes in zip(self.history.lsh.hashtables, band_hashes(sigs[signed], self.history.bands,
                                                                         self.history.rows)):
            for i, members in zip(signed.tolist(), table.getmany(*hashes)):
                found[i].update(m for m in members if not self._ours(m))
        return found

    def _fetch_sigs(self, records: set[bytes]) -> None:
        missing = sorted(records - set(self._sigs))
        if missing:
            raw = self.history.client.hmget(self.history.key("sig"), missing)
            for record, data in zip(missing, raw):
                self._sigs[record] = np.frombuffer(data, "<u4").astype(np.uint32)

    def match(self, row: int, score: float, reason: str) -> Match:
        return Match(reason, self.name, self.record_keys[row].split(SEP, 1)[1].decode(), score)


class RedisHistoryWriter:
    """Writes a run's kept records into the Redis history, replacing what the same run wrote before.

    Same interface as :class:`.index.HistoryWriter` (``parts``, ``write(scope, start, ngram)``) plus
    :meth:`write_sketches` for the streaming ``synthgen dedup``."""

    def __init__(self, history: RedisHistory, key: str, seed: int):
        self.history, self.key, self.seed = history, key, seed
        self.parts = 0

    def write(self, scope: RunScope, start: int, ngram: int) -> None:
        if self.parts == 0:
            self.clear()
            start = 0
        self._insert(scope.sketches(start), ngram)
        self.parts += 1

    def write_sketches(self, parts: Iterable[SketchSet], ngram: int) -> None:
        self.clear()
        for sketches in parts:
            self._insert(sketches, ngram)
        self.parts += 1

    def clear(self) -> None:
        """Remove the records this run key wrote earlier (a re-run replaces them)."""
        client, run_set = self.history.client, self.history.key(f"run:{self.key}")
        records = sorted(client.smembers(run_set))
        if not records:
            return
        indexed = [r for r in records if r in self.history.lsh]
        with self.history.lsh.deletion_session() as session:
            for record in indexed:
                session.remove(record)
        self._drop_exact(records)
        client.hdel(self.history.key("sig"), *records)
        client.delete(run_set)

    def _drop_exact(self, records: list[bytes]) -> None:
        client, exact, rexact = self.history.client, self.history.key("exact"), self.history.key("rexact")
        fields = [f for f in client.hmget(rexact, records) if f is not None]
        owners = client.hmget(exact, fields) if fields else []
        owned = [f for f, owner in zip(fields, owners) if owner in set(records)]
        if owned:
            client.hdel(exact, *owned)
        client.hdel(rexact, *records)

    def _insert(self, sketches: SketchSet, ngram: int) -> None:
        from datasketch import LeanMinHash

        self.history.ensure_meta(self.seed, ngram)
        prefix = self.key.encode() + SEP
        records = [prefix + str(i).encode() for i in sketches.ids]
        pipe = self.history.client.pipeline(transaction=False)
        signed = sketches.has_signature
        with self.history.lsh.insertion_session() as session:
            seen: set[bytes] = set()
            for record, sig, exact, has_sig in zip(records, sketches.sigs, sketches.exact.tolist(), signed.tolist()):
                if record in seen:
                    continue
                seen.add(record)
                pipe.hset(self.history.key("sig"), record, np.asarray(sig, "<u4").tobytes())
                pipe.hsetnx(self.history.key("exact"), int(exact).to_bytes(8, "little"), record)
                pipe.hset(self.history.key("rexact"), record, int(exact).to_bytes(8, "little"))
                pipe.sadd(self.history.key(f"run:{self.key}"), record)
                if has_sig:
                    session.insert(record, LeanMinHash(seed=self.seed, hashvalues=sig, scheme="affine32"),
                                   check_duplication=False)
        pipe.execute()
