"""``farm run``: render a plan's chunks on a Ray cluster, then ``concat``.

One actor per worker slot (``num_gpus=1`` where the cluster has GPUs, else ``--cpus-per-worker`` CPUs)
loads the model once and renders chunk after chunk, longest first. Chunks travel through the shared
filesystem: every worker writes into ``PLAN_DIR/chunks`` (which all nodes must see at the same path) and
returns only its record's summary. When a worker or its node dies, its chunk goes back to the queue (at
most ``retries`` times) and a replacement actor is started; chunks already done are skipped. The driver
draws the frames done across the cluster on stderr. Ray is imported here only.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..backends import Backend, SessionBackend
from ..progress import Progress
from .chunk import check_chunk, plan_backend, render_chunk, resolve_identity
from .plan import Chunk, Plan, load_plan

log = logging.getLogger("vs_colorize")

#: Seconds between two progress polls of the busy workers.
POLL_S = 0.5


@dataclasses.dataclass(frozen=True)
class RunStats:
    """What a run did: chunks rendered (not skipped), seconds until the first worker was up (Ray start-up,
    actor start, model load), and seconds from then until the last chunk was done."""

    rendered: int = 0
    startup_s: float = 0.0
    render_s: float = 0.0


class RunFailed(RuntimeError):
    """A chunk failed in a way a retry will not fix, or ran out of retries."""


def keep_sessions(backend: Backend) -> Backend:
    """A copy of ``backend`` that opens each inference session once and hands it out again for every
    later graph with the same model and shape (one chunk renders at a time in an actor)."""
    if not isinstance(backend, SessionBackend):
        return backend  # vs-mlrt loads inside its own plugin
    kept: dict[tuple[Any, ...], list[Any]] = {}
    turn: collections.Counter[tuple[Any, ...]] = collections.Counter()
    base = type(backend)

    def open_kept(self: SessionBackend, path: Path, info: Any, shape: tuple[int, int, int, int]) -> Any:
        key = (os.fspath(path), shape)
        pool = kept.setdefault(key, [])
        slot = turn[key] % self.num_streams
        turn[key] += 1
        if slot == len(pool):
            pool.append(base.open(self, path, info, shape))
        return pool[slot]

    cls = type(f"Kept{base.__name__}", (base,), {"open": open_kept})
    return cls(**{f.name: getattr(backend, f.name) for f in dataclasses.fields(backend)})  # type: ignore[no-any-return]


def longest_first(chunks: list[Chunk]) -> list[Chunk]:
    """The order chunks are handed out: longest first (the last wave is the shortest), then by index."""
    return sorted(chunks, key=lambda c: (-c.frames, c.index))


class ChunkWorker:
    """The Ray actor's class: one plan, one loaded model, chunks rendered one after another."""

    def __init__(self, plan_dir: str, threads: int) -> None:
        import vapoursynth as vs

        self.plan_dir = Path(plan_dir)
        self.plan = load_plan(plan_dir)
        if threads:
            vs.core.num_threads = threads
        model_path, _ = resolve_identity(self.plan.settings)
        self.backend = keep_sessions(plan_backend(self.plan.settings, model_path))
        self.done = 0

    def where(self) -> str:
        return f"{socket.gethostname()} pid {os.getpid()}"

    def progress(self) -> int:
        return self.done

    def render(self, index: int) -> dict[str, Any]:
        self.done = 0

        def update(n: int) -> None:
            self.done = n

        record = render_chunk(
            self.plan_dir, self.plan, self.plan.chunks[index], progress=update, backend=self.backend
        )
        timings = record["timings"] if record else {}
        return {"index": index, "skipped": record is None, "timings": timings, "where": self.where()}


def _is_loopback(address: str | None) -> bool:
    if not address or address == "auto":
        return False
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _connect(address: str | None, local_workers: int | None) -> None:
    if _is_loopback(address):
        # Ray rewrites a loopback address into the machine's IP unless it is told clusters are local.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    quiet = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
    if address:
        ray.init(address=address, **quiet)  # type: ignore[arg-type]
    else:
        ray.init(
            num_cpus=local_workers or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            **quiet,  # type: ignore[arg-type]
        )


def _slots(cpus_per_worker: int) -> tuple[int, dict[str, float]]:
    import ray

    total: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    if total.get("GPU", 0) >= 1:
        return int(total["GPU"]), {"num_gpus": 1, "num_cpus": 1}
    return max(1, int(total.get("CPU", 1) // cpus_per_worker)), {"num_cpus": cpus_per_worker}


def run(
    plan_dir: Path,
    plan: Plan,
    *,
    address: str | None = None,
    local_workers: int | None = None,
    cpus_per_worker: int = 1,
    retries: int = 3,
    quiet: bool = False,
) -> RunStats:
    """Render every chunk of ``plan`` that is not done yet on Ray."""
    todo = [c for c in plan.chunks if check_chunk(plan_dir, plan, c, verify_file=False) is not None]
    skipped = len(plan.chunks) - len(todo)
    if skipped:
        log.info("farm run: %d of %d chunks already done", skipped, len(plan.chunks))
    if not todo:
        return RunStats()
    todo = longest_first(todo)
    # Ray's driver prints cluster events (a dead worker, say) on stdout, which belongs to the user.
    start = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):
        _connect(address, local_workers)
        import ray

        try:
            up, rendered = _schedule(ray, plan_dir, plan, todo, cpus_per_worker, retries, quiet)
            done = time.monotonic()
            log.info("farm run: workers up after %.1f s, chunks done %.1f s later", up - start, done - up)
            return RunStats(rendered, up - start, done - up)
        finally:
            ray.shutdown()


def _schedule(
    ray: Any, plan_dir: Path, plan: Plan, todo: list[Any], cpus_per_worker: int, retries: int, quiet: bool
) -> tuple[float, int]:
    """Run the queue to the end; return when the first worker was up (monotonic) and the chunks rendered."""
    from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError, WorkerCrashedError

    lost = (RayActorError, ActorUnavailableError, WorkerCrashedError)
    count, options = _slots(cpus_per_worker)
    threads = int(options.get("num_cpus", 1)) if "num_gpus" not in options else 0
    actor_cls = ray.remote(max_concurrency=2, max_restarts=0, **options)(ChunkWorker)
    count = min(count, len(todo))
    log.info("farm run: %d chunks on %d workers (%s each)", len(todo), count, options)

    def start() -> tuple[Any, Any]:
        actor = actor_cls.remote(os.fspath(plan_dir.resolve()), threads)
        return actor, actor.where.remote()

    starting = dict(start() for _ in range(count))  # actor → its first call, pending until placed
    idle: list[Any] = []
    queue = collections.deque(todo)
    busy: dict[Any, tuple[Any, Any]] = {}  # render ref → (actor, chunk)
    tries: collections.Counter[int] = collections.Counter()
    total = sum(c.frames for c in todo)
    finished = rendered = 0
    first_up: float | None = None
    progress = Progress(total, label="farm", enabled=False if quiet else None)
    try:
        while queue or busy:
            for actor, ref in list(starting.items()):
                ready, _ = ray.wait([ref], timeout=0)
                if ready:
                    del starting[actor]
                    try:
                        log.info("farm run: worker up on %s", ray.get(ref))
                        idle.append(actor)
                        first_up = first_up or time.monotonic()
                    except lost as exc:
                        if getattr(exc, "actor_init_failed", False):  # its __init__ raised: will not heal
                            raise RunFailed(
                                f"farm run: a worker could not start: {_first_line(exc)}"
                            ) from None
                        starting.update([start()])
            while queue and idle:
                actor, chunk = idle.pop(), queue.popleft()
                busy[actor.render.remote(chunk.index)] = (actor, chunk)
            if not busy:
                time.sleep(POLL_S)
                continue
            ready, _ = ray.wait(list(busy), num_returns=1, timeout=POLL_S)
            for ref in ready:
                actor, chunk = busy.pop(ref)
                try:
                    result = ray.get(ref)
                except lost as exc:
                    tries[chunk.index] += 1
                    if tries[chunk.index] > retries:
                        raise RunFailed(
                            f"farm run: chunk {chunk.index} lost its worker {tries[chunk.index]} times"
                        ) from None
                    log.warning(
                        "farm run: chunk %d lost its worker (%s); retry %d of %d",
                        chunk.index,
                        type(exc).__name__,
                        tries[chunk.index],
                        retries,
                    )
                    queue.appendleft(chunk)
                    starting.update([start()])
                    continue
                except RayTaskError as exc:
                    raise RunFailed(f"farm run: chunk {chunk.index} failed: {_first_line(exc)}") from None
                idle.append(actor)
                finished += chunk.frames
                rendered += not result["skipped"]
                log.info(
                    "farm run: chunk %d done on %s (%d frames, %.1f s); %d/%d frames",
                    chunk.index,
                    result["where"],
                    chunk.frames,
                    result["timings"].get("total_s", 0.0),
                    finished,
                    total,
                )
            progress.update(finished + _in_flight(ray, busy))
    finally:
        progress.close()
        for actor in [*idle, *starting, *(a for a, _ in busy.values())]:
            ray.kill(actor)
    return first_up or time.monotonic(), rendered


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _in_flight(ray: Any, busy: dict[Any, tuple[Any, Any]]) -> int:
    """Frames done so far inside the chunks being rendered (0 for a worker that does not answer)."""
    refs = [actor.progress.remote() for actor, _ in busy.values()]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
    done = 0
    for ref in ready:
        try:
            done += int(ray.get(ref))
        except Exception:  # a worker that just died: its chunk is requeued by the loop
            continue
    return done
