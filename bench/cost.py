"""Cost on paper, from measured counts: what a million earns, redemptions and sales-file rows, and a
night of scheduled jobs, would cost on AWS at published on-demand prices (bench/cost_model.py;
docs/cost.md says how to read the output).

Everything runs in this process on the local stack (DynamoDB Local for the table and its stream,
moto for S3, SQS and the event bus): earns and redemptions through the whole API path (Chalice's
test client: auth, validation, rules, store), a store's sales file uploaded to incoming/ and
delivered from the queue to the app's consumer, the six scheduled jobs over a seeded member base (a
working run, then an idle one as the other 23 hourly runs of the day). After each, the table's
stream is delivered to every stream handler of the app (the KPI roll-up, the event outbox) through
its filter, as Lambda's event source mappings do.

Counted: every DynamoDB call, its read units as DynamoDB Local reports them, its write units from
each item write's stream images by DynamoDB's rules (table and index copies; DynamoDB Local
under-reports transactions of several items), S3 requests, SQS messages, stream records, each
PutEvents entry, and each handler's time, billed as Lambda would at the memory infra/stages.py gives
its kind of function. Modelled, not measured: Lambda's SQS poller (a receive and a delete per
message), S3's notification message per file, Lambda's own log lines and API Gateway's access log
line, and at a steady request rate how many records each stream batch holds.

    python -m bench.cost [--earns 1000] [--file-rows 10000] [--members 2000] [--rate 10] [--stage prod] [--quick]
"""

from __future__ import annotations

import argparse
import ast
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import cost_model as model  # noqa: E402
from bench.local import use_local_aws  # noqa: E402

STAGES_FILE = ROOT / "infra" / "stages.py"
ROLL_UP = "kpi_rollup"
JOB_RUNS_PER_DAY = 24  # every job is scheduled hourly; the first run of the day does the work
READ_OPS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
S3_PUT_CLASS = {"PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}
S3_PUT_CLASS |= {"ListObjects", "ListObjectsV2", "ListMultipartUploads", "ListParts"}
S3_GET_CLASS = {"GetObject", "HeadObject", "SelectObjectContent"}


def stage_memory(stage: str) -> dict[str, int]:
    """(API, worker) memory of a stage, read from infra/stages.py without importing the CDK."""
    for node in ast.walk(ast.parse(STAGES_FILE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Stage":
            found = {
                kw.arg: ast.literal_eval(kw.value)
                for kw in node.keywords
                if kw.arg in ("name", "api_memory_mb", "worker_memory_mb")
            }
            if found.get("name") == stage:
                return {"api": found["api_memory_mb"], "worker": found["worker_memory_mb"]}
    raise SystemExit(f"no stage {stage!r} in {STAGES_FILE}")


@dataclass
class Tally:
    """One workload's counts (threads of the app add to it under the meter's lock)."""

    calls: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: Counter[str] = field(default_factory=Counter)  # "<phase> <table or index>" -> units
    items: Counter[str] = field(default_factory=Counter)  # "<phase> <kind of item>" -> writes
    item_units: Counter[str] = field(default_factory=Counter)  # ... -> the table's write units
    large: dict[str, str] = field(default_factory=dict)  # item kind over 1 KB -> its size and largest parts
    index_changes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    gsi_doubled: float = 0.0  # the half of global index copies' units that a transaction doubled
    reported_wru: float = 0.0  # what DynamoDB Local answered (short for transactions of many items)
    failed_writes: int = 0  # write units of failed conditional writes
    s3: Counter[str] = field(default_factory=Counter)
    sqs_sent: int = 0  # billed requests (64 KB chunks) of the app's sends
    event_sizes: list[int] = field(default_factory=list)
    put_events: int = 0
    seconds: dict[str, list[float]] = field(default_factory=dict)  # function -> each invocation
    cpu_seconds: dict[str, list[float]] = field(default_factory=dict)  # ... in the calling thread
    notifications: int = 0  # S3's message to the queue per file uploaded
    stream_records: int = 0
    stream_batches: dict[str, list[int]] = field(default_factory=dict)  # handler -> records per batch
    failures: Counter[str] = field(default_factory=Counter)  # handler -> invocations that failed
    log_bytes: int = 0

    def wru(self, phase: str | None = None) -> float:
        return sum(units for name, units in self.write_units.items() if phase is None or name.startswith(phase))


class Meter:
    """botocore hooks on the app's shared clients (DynamoDB, S3, SQS, EventBridge), the logger's
    output counted instead of printed. `tally` is where counts go; `phase` labels writes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tally = Tally()
        self.phase = "request"
        self.quiet = threading.local()  # the bench's own calls (waiting for a report) are not counted
        # Each item write, until its stream record arrives: (transactional, phase), in order per key.
        self.writes: dict[tuple[str, str], deque[tuple[bool, str]]] = defaultdict(deque)
        self.indexes: list[model.Index] = []

    def install(self) -> None:
        from chalicelib.observability import logger
        from chalicelib.store import aws

        ddb = aws.client("dynamodb").meta.events
        ddb.register("before-parameter-build.dynamodb", self._ask_capacity)
        ddb.register("after-call.dynamodb", self._dynamodb)
        aws.client("s3").meta.events.register("after-call.s3", self._s3)
        aws.client("sqs").meta.events.register("before-parameter-build.sqs", self._sqs)
        aws.client("events").meta.events.register("before-parameter-build.events.PutEvents", self._put_events)
        logger.registered_handler.stream = _Sink(self)  # type: ignore[attr-defined]

    def _ask_capacity(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in READ_OPS | WRITE_OPS:
            params["ReturnConsumedCapacity"] = "INDEXES"
        if model.name in WRITE_OPS:
            context["bench_writes"] = written_keys(model.name, params)

    def _dynamodb(
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if model.name not in READ_OPS | WRITE_OPS:
            return
        consumed = parsed.get("ConsumedCapacity") or []
        writes: list[tuple[tuple[str, str], bool]] = context.get("bench_writes", [])
        with self.lock:
            tally = self.tally
            tally.calls[model.name] += 1
            if http_response.status_code >= 400 and model.name in WRITE_OPS:
                # Billed on AWS (at least 1 unit an item, 2 in a transaction); no stream record follows.
                tally.failed_writes += sum(2 if transactional else 1 for _, transactional in writes)
            elif model.name in WRITE_OPS:
                for key, transactional in writes:
                    self.writes[key].append((transactional, self.phase))
            for part in consumed if isinstance(consumed, list) else [consumed]:
                if model.name in READ_OPS:
                    tally.read_units += part.get("CapacityUnits", 0.0)
                else:
                    tally.reported_wru += part.get("CapacityUnits", 0.0)

    def size_records(self, event: dict[str, Any], context: Any) -> None:
        """Every stream record's write units, from its images (DynamoDB Local under-reports the
        units of a transaction of several items: 5 small puts answer 2, not 10)."""
        from chalicelib.store.keys import PK, SK

        for record in event["Records"]:
            stream = record["dynamodb"]
            key = (stream["Keys"][PK]["S"], stream["Keys"][SK]["S"])
            with self.lock:
                queue = self.writes.get(key)
                transactional, phase = queue.popleft() if queue else (False, self.phase)
                units = model.record_write_units(
                    stream.get("OldImage"), stream.get("NewImage"), self.indexes, (PK, SK), transactional
                )
                for name, value in units.items():
                    self.tally.write_units[f"{phase} {name}"] += value
                for index in self.indexes:
                    change, _ = model.index_change(stream.get("OldImage"), stream.get("NewImage"), index, (PK, SK))
                    if change != "none":
                        self.tally.index_changes[f"{phase} {index.name}"][change] += 1
                if transactional:  # what the global indexes' copies cost if AWS does not double them
                    self.tally.gsi_doubled += sum(units.get(i.name, 0) for i in self.indexes if not i.local) / 2
                kind = item_kind(*key)
                self.tally.items[f"{phase} {kind}"] += 1
                self.tally.item_units[f"{phase} {kind}"] += units["table"]
                image = stream.get("NewImage") or {}
                if model.item_size(image) > model.KB:  # what makes it cost more than 1 KB's units
                    self.tally.large[f"{phase} {kind}"] = largest_attributes(image)

    def _s3(self, model: Any, **_: Any) -> None:
        if not getattr(self.quiet, "on", False):
            with self.lock:
                self.tally.s3[model.name] += 1

    def _sqs(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "SendMessage":
            billed = model_chunks(params.get("MessageBody", ""))
        elif model.name == "SendMessageBatch":
            billed = model_chunks("".join(entry.get("MessageBody", "") for entry in params.get("Entries", [])))
        else:
            return  # receives and deletes: the local pump's, modelled as Lambda's poller instead
        with self.lock:
            self.tally.sqs_sent += billed

    def _put_events(self, params: dict[str, Any], **_: Any) -> None:
        """An entry's billed size: its Source, DetailType and Detail (and Resources, none here)."""
        sizes = [
            sum(len(str(entry.get(name, "")).encode()) for name in ("Source", "DetailType", "Detail"))
            for entry in params.get("Entries", [])
        ]
        with self.lock:
            self.tally.put_events += 1
            self.tally.event_sizes += sizes

    def timed(self, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler` as Lambda would bill it: each call's duration under `function`; a batch answer
        that names failed items is counted as a failure."""

        def run(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            answer = None
            try:
                answer = handler(*args, **kwargs)
                return answer
            finally:
                with self.lock:
                    self.tally.seconds.setdefault(function, []).append(time.perf_counter() - started)
                    self.tally.cpu_seconds.setdefault(function, []).append(time.thread_time() - cpu)
                    if (answer is None and function != "api") or (
                        isinstance(answer, dict) and answer.get("batchItemFailures")
                    ):
                        self.tally.failures[function] += 1

        return run


class _Sink:
    """The logger's stream: counts the bytes CloudWatch Logs would ingest, prints nothing."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def write(self, text: str) -> int:
        if os.environ.get("BENCH_COST_LOGS"):
            sys.stderr.write(text)
        with self.meter.lock:
            self.meter.tally.log_bytes += len(text.encode())
        return len(text)

    def flush(self) -> None:
        pass


class _TimedApp:
    """The app as the local gateway calls it, timed (the authorizer runs outside: on AWS it is its
    own function, its answer cached 300 s per key)."""

    def __init__(self, app: Any, record: Callable[..., Any]) -> None:
        self._app = app
        self._record = record

    def __call__(self, event: Any, context: Any) -> Any:
        return self._record(self._app)(event, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


def item_kind(partition: str, sort_key: str) -> str:
    """What an item is, for the write-unit breakdown (by the key names of chalicelib/store/keys.py)."""
    from chalicelib.store import keys

    if sort_key == keys.STATE_PREFIX:
        return "profile"
    kinds = ((keys.LOT_PREFIX, "lot"), (keys.PENDING_PREFIX, "pending lot"), (keys.ENTRY_PREFIX, "ledger entry"))
    for prefix, kind in (*kinds, (keys.COUPON_PREFIX, "coupon")):
        if sort_key.startswith(prefix):
            return kind
    if {keys.PK: partition, keys.SK: sort_key} == keys.kpi_seen_key(partition.removeprefix("KPI#SEEN#")):
        return "roll-up marker"
    if partition.startswith((keys.KPI_DAY_PREFIX, keys.KPI_MONTHS_PK, keys.STORE_DAYS_PREFIX, "STAFFKPI#")):
        return "KPI row"
    return partition.split("#", 1)[0].lower() + " item"


def largest_attributes(image: dict[str, Any], count: int = 4) -> str:
    sizes = sorted(((len(name.encode()) + model.value_size(v), name) for name, v in image.items()), reverse=True)
    parts = ", ".join(f"{name} {size}" for size, name in sizes[:count])
    return f"{model.item_size(image):,} bytes: {parts}, ..."


def written_keys(operation: str, params: dict[str, Any]) -> list[tuple[tuple[str, str], bool]]:
    """(key, transactional) of each item a write call writes (a ConditionCheck writes nothing)."""

    from chalicelib.store.keys import PK, SK

    def key(item: dict[str, Any]) -> tuple[str, str]:
        return (item[PK]["S"], item[SK]["S"])

    if operation == "TransactWriteItems":
        found = []
        for action in params.get("TransactItems", []):
            ((kind, body),) = action.items()
            if kind == "Put":
                found.append((key(body["Item"]), True))
            elif kind in ("Update", "Delete"):
                found.append((key(body["Key"]), True))
        return found
    if operation == "BatchWriteItem":
        return [
            (key(request["PutRequest"]["Item"] if "PutRequest" in request else request["DeleteRequest"]["Key"]), False)
            for requests in params.get("RequestItems", {}).values()
            for request in requests
        ]
    return [(key(params["Item"] if operation == "PutItem" else params["Key"]), False)]


def model_chunks(body: str) -> int:
    return model.chunks_64kb(len(body.encode()))


# --- the workloads -------------------------------------------------------------------------------------


@dataclass
class Stack:
    meter: Meter
    api: Any
    sizer: Any  # a StreamPump of every record to Meter.size_records
    pumps: list[Any]  # a StreamPump per stream handler of the app
    resources: Any
    directory: Path
    streams: dict[str, tuple[int, int]]  # stream handler -> (batch size, batching window in s)

    def drain(self) -> int:
        """Deliver the stream to every handler until nothing is new; how many records it held."""
        records = 0
        while True:
            sized = self.sizer.drain()
            records += sized
            if not sized + sum(pump.drain() for pump in self.pumps):
                return records


@contextmanager
def measuring(stack: Stack) -> Iterator[Tally]:
    """A fresh tally for the workload; then the stream its writes left, through the roll-up."""
    meter = stack.meter
    meter.tally, meter.phase = Tally(), "request"
    yield meter.tally
    meter.phase = "roll-up"
    meter.tally.stream_records += stack.drain()
    meter.tally, meter.phase = Tally(), "request"  # what runs between workloads counts nowhere


def enrol_api(api: Any, ids: list[str]) -> None:
    for member_id in ids:
        status, answer = api.post("/members", {"member_id": member_id})
        assert status == 201, answer


def earns(stack: Stack, count: int, members: int, run: str) -> Tally:
    """Repeat customers on a new day: each member enrolled and bought once yesterday (not
    counted), then the counted earns, round robin over the members."""
    from chalicelib import clock

    ids = [f"e{run}{n}" for n in range(members)]
    enrol_api(stack.api, ids)
    with clock.simulated(lambda: datetime.now(UTC) - timedelta(days=1)):
        for n, member_id in enumerate(ids):
            _earn(stack, member_id, f"{run}-before-{n}")
    stack.drain()  # yesterday's work is not this workload's
    with measuring(stack) as tally:
        for n in range(count):
            _earn(stack, ids[n % members], f"{run}-{n}")
    return tally


def _earn(stack: Stack, member_id: str, order_id: str) -> None:
    lines = [
        {"sku": "A1", "category": "fresh", "amount": "68.50"},
        {"sku": "B7", "category": "household", "amount": "200.00"},
    ]
    body = {"order_id": order_id, "amount": "268.50", "currency": "CNY", "lines": lines}
    status, answer = stack.api.post(f"/members/{member_id}/purchases", body)
    assert status == 201, answer


def redemptions(stack: Stack, count: int, members: int, run: str) -> Tally:
    """Points redemptions of 10 by the members the earns left with points."""
    with measuring(stack) as tally:
        for n in range(count):
            body = {"redemption_id": f"{run}-{n}", "points": 10, "reason": "voucher at the till"}
            status, answer = stack.api.post(f"/members/e{run}{n % members}/redemptions", body)
            assert status == 201, answer
    return tally


def sales_file(stack: Stack, rows: int, members: int, label: str) -> Tally:
    """A store's day (bench/ingest.py's generator: 70 % member rows, 5 % returns) uploaded to
    incoming/, until its report exists; members m0.. enrolled before."""
    from bench.ingest import write_file
    from chalicelib.domain.commands import Enrol
    from chalicelib.ingest import names
    from chalicelib.services import members as member_service
    from chalicelib.store import objects

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: member_service.enrol(Enrol(f"{label}m{n}")), range(members)))
    stack.drain()
    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    path = stack.directory / f"{label}.csv"
    write_file(path, rows, members=members, day=day)
    _prefix_members(path, label)
    key = f"incoming/{label}/{day.date().isoformat()}.csv"
    with measuring(stack) as tally:
        objects._s3().put_object(Bucket=stack.resources.bucket_name, Key=key, Body=path.read_bytes())
        tally.notifications += 1
        _wait_for(stack, names.parse_key(key).report_key)
    return tally


def _prefix_members(path: Path, label: str) -> None:
    """The generator names members m<n>; this workload's members are <label>m<n>."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    member = rows[0].index("member_id")
    for row in rows[1:]:
        row[member] = f"{label}{row[member]}" if row[member] else ""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def _wait_for(stack: Stack, report_key: str, timeout: float = 900.0) -> None:
    from chalicelib.store import objects

    stack.meter.quiet.on = True
    try:
        deadline = time.monotonic() + timeout
        while objects.get_json(stack.resources.bucket_name, report_key) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"no report {report_key} after {timeout} s")
            if stack.meter.tally.failures["ingest"] >= 3:
                raise SystemExit("the sales file's messages keep failing (set BENCH_COST_LOGS=1 to see why)")
            time.sleep(0.1)
    finally:
        stack.meter.quiet.on = False


def seed_members(total: int, due: int) -> None:
    """bench/jobs.py's member base (each due member due for every job on AS_OF), each profile also
    in its audience as written the day before, the due ones due for the audience job on AS_OF."""
    from bench.jobs import AS_OF, _write, due_member, idle_member, member_items
    from chalicelib.store import keys
    from chalicelib.store.due import audience_attributes

    step = max(total // max(due, 1), 1)
    due_ids = {f"n{n:06d}" for n in range(0, step * due, step)}
    items: list[dict[str, Any]] = []
    for n in range(total):
        member_id = f"n{n:06d}"
        member = due_member(member_id) if member_id in due_ids else idle_member(member_id)
        found = member_items(member)
        audience = audience_attributes(member, AS_OF - timedelta(days=1))
        if member_id in due_ids:
            audience[keys.DUE_AUDIENCE.attribute] = AS_OF.isoformat()
        found[0].update({name: value for name, value in audience.items() if value is not None})
        items += found
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(_write, [items[start : start + 25] for start in range(0, len(items), 25)]))


def night_of_jobs(stack: Stack, members: int, due: int) -> tuple[Tally, Tally, int]:
    """(the day's working runs, one idle run of each job, members changed)."""
    from bench.jobs import AS_OF
    from chalicelib.services import jobs

    seed_members(members, due)
    stack.drain()
    names = ("expiry", "tier-review", "dormant", "birthday", "pending", "audience")
    run = stack.meter.timed("jobs", jobs.run)
    changed = 0
    with measuring(stack) as working:
        for name in names:
            changed += run(name, AS_OF).members_changed
    with measuring(stack) as idle:
        for name in names:
            run(name, AS_OF)
    return working, idle, changed


# --- from counts to dollars ----------------------------------------------------------------------------


def usage_of(
    tally: Tally, memory: dict[str, int], results: dict[str, Any], steady: tuple[int, float] | None = None
) -> model.Usage:
    """What `tally` bills. `steady`: (units, units per second) when the work arrives at a steady
    rate (API calls): each stream handler's invocations are the batches that rate fills, as Lambda
    batches by its window; otherwise the batches as delivered (a burst: full batches)."""
    usage = model.Usage(api_requests=len(tally.seconds.get("api", [])))
    for function, durations in tally.seconds.items():
        target = usage.function(function, memory["api"] if function == "api" else memory["worker"])
        for seconds in durations:
            target.add(seconds)
        if steady and function in results["streams"]:
            units, rate = steady
            records = sum(tally.stream_batches.get(function, []))
            batch, window = results["streams"][function]
            target.rebatch(model.stream_invocations(records, batch, window, rate * records / units))
    usage.read_units = tally.read_units
    usage.write_units = tally.wru() + tally.failed_writes
    usage.events = sum(model.chunks_64kb(size) for size in tally.event_sizes)
    deliveries = len(tally.seconds.get("ingest", []))
    usage.sqs_requests = tally.sqs_sent + tally.notifications + 2 * deliveries  # Lambda's receive + delete
    usage.s3_puts = sum(n for name, n in tally.s3.items() if name in S3_PUT_CLASS)
    usage.s3_gets = sum(n for name, n in tally.s3.items() if name in S3_GET_CLASS)
    invocations = sum(f.invocations for f in usage.functions.values())
    usage.log_bytes = (
        tally.log_bytes + invocations * model.LAMBDA_PLATFORM_LOG_BYTES + usage.api_requests * model.ACCESS_LOG_BYTES
    )
    return usage


def counts_line(label: str, tally: Tally, units: int) -> list[str]:
    per = lambda value: value / units  # noqa: E731
    calls = ", ".join(f"{name} {per(n):.2f}" for name, n in tally.calls.most_common())
    writes = ", ".join(f"{name} {per(n):.2f}" for name, n in sorted(tally.write_units.items()) if n)
    lines = [
        f"{label}:",
        f"  DynamoDB calls {per(sum(tally.calls.values())):.2f} ({calls}); read units {per(tally.read_units):.2f}",
        f"  write units {per(tally.wru()):.2f} ({writes}; {per(tally.gsi_doubled):.2f} of it the doubling of global "
        f"index copies in transactions; DynamoDB Local reported {per(tally.reported_wru):.2f})"
        + (f"; failed writes {per(tally.failed_writes):.2f} WRU" if tally.failed_writes else ""),
        f"  stream records {per(tally.stream_records):.2f}; "
        + "; ".join(
            f"to {name} {per(sum(sizes)):.2f} in {len(sizes)} batches" for name, sizes in tally.stream_batches.items()
        )
        + f"; events {per(len(tally.event_sizes)):.2f} in {per(tally.put_events):.2f} PutEvents"
        + (f" (largest {max(tally.event_sizes)} bytes)" if tally.event_sizes else ""),
    ]
    if tally.items:
        lines.append(
            "  table writes by item: "
            + ", ".join(
                f"{name} {per(n):.2f} x {tally.item_units[name] / n:.1f} WRU" for name, n in sorted(tally.items.items())
            )
        )
    if tally.failures:
        lines.append(f"  FAILED invocations: {dict(tally.failures)}")
    for function, durations in sorted(tally.seconds.items()):
        lines.append(
            f"  {function}: {len(durations)} invocations, median {statistics.median(durations) * 1000:.1f} ms, "
            f"mean {statistics.fmean(durations) * 1000:.1f} ms (CPU of its own thread: median "
            f"{statistics.median(tally.cpu_seconds[function]) * 1000:.1f} ms)"
        )
    if tally.s3 or tally.sqs_sent:
        lines.append(f"  S3 {dict(tally.s3)}; SQS messages sent (64 KB chunks) {tally.sqs_sent}")
    lines.append(f"  app log bytes {per(tally.log_bytes):.0f}")
    return lines


def levers(tally: Tally, usage: model.Usage, units: int) -> list[tuple[float, str]]:
    """What would cut the cost of `units` earns: (dollars saved per million, what), largest first."""
    per_m = model.MILLION / units
    rest_over_http = model.API_GATEWAY_REST_PER_REQUEST - model.API_GATEWAY_HTTP_PER_REQUEST
    found = [
        (
            usage.api_requests * per_m * rest_over_http,
            "an HTTP API instead of the REST API ($1.00 instead of $3.50 a million requests; the gateway "
            "responses, throttle and authorizer cache redone on HTTP API terms)",
        )
    ]
    for name, wru in tally.write_units.items():
        phase, _, target = name.partition(" ")
        if phase == "request" and target != "table" and wru:
            found.append(
                (
                    wru * per_m * model.DYNAMODB_PER_WRU,
                    f"index {target}: {wru / units:.2f} WRU per earn ("
                    + ", ".join(f"{n / units:.2f} {change}" for change, n in tally.index_changes[name].most_common())
                    + " per earn; a move is a delete and a put)",
                )
            )
    for name, writes in tally.items.items():
        phase, _, kind = name.partition(" ")
        floor = 2 * writes  # a transactional write of an item under 1 KB
        if phase == "request" and tally.item_units[name] > floor:
            found.append(
                (
                    (tally.item_units[name] - floor) * per_m * model.DYNAMODB_PER_WRU,
                    f"the {kind} under 1 KB: {tally.item_units[name] / writes:.1f} WRU per transactional write now "
                    f"({tally.large.get(name, 'over 1 KB')})",
                )
            )
    batches = tally.stream_batches.get(ROLL_UP, [])
    markers = 2 * sum(batches) - 2 * len(batches)
    if markers > 0:
        found.append(
            (
                markers * per_m * model.DYNAMODB_PER_WRU,
                f"the roll-up's marker per stream record (2 WRU each; the roll-up writes "
                f"{tally.wru('roll-up') / units:.2f} WRU per earn): one marker per batch",
            )
        )
    api = usage.functions.get("api")
    if api:
        found.append(
            (
                api.gb_seconds / 2 * per_m * model.LAMBDA_PER_GB_SECOND_ARM,
                f"the API function at half its {api.memory_mb} MB (if its time, mostly waiting on DynamoDB, "
                "does not grow)",
            )
        )
    if usage.events > units:
        found.append(
            (
                (usage.events - units) * per_m * model.EVENTBRIDGE_PER_EVENT,
                f"one event per earn instead of {usage.events / units:.2f}",
            )
        )
    logs = usage.log_bytes * per_m / model.KB**3 * model.LOGS_PER_GB
    found.append(
        (logs / 2, f"half the log bytes per earn ({usage.log_bytes / units:.0f} with Lambda's and the gateway's)")
    )
    return sorted(found, reverse=True)


# --- the run -------------------------------------------------------------------------------------------


def stream_sources(app: Any) -> list[tuple[str, Any, int, int]]:
    """(name, Lambda entry point, batch size, batching window in s) of each of the app's
    table-stream handlers, roll-up first."""
    from chalice.app import DynamoDBEventConfig

    found = [
        (source.name, app.handler_map[source.name], source.batch_size, source.maximum_batching_window_in_seconds)
        for source in app.event_sources
        if isinstance(source, DynamoDBEventConfig)
    ]
    return sorted(found, key=lambda source: source[0] != ROLL_UP)


def _stream_handler(meter: Meter, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    def run(event: dict[str, Any], context: Any) -> Any:
        meter.tally.stream_batches.setdefault(name, []).append(len(event["Records"]))
        return handler(event, context)

    return meter.timed(name, run)


@contextmanager
def start_stack(directory: Path) -> Iterator[Stack]:
    """DynamoDB Local + moto (as `loyalty dev`), the resources, the metered app and its pumps."""
    from chalice.test import Client

    from chalicelib.store.schema import table_definition
    from loyalty_tools.local.ddb_local import DynamoDBLocal
    from loyalty_tools.local.emulators import MotoServer
    from loyalty_tools.local.pump import SqsPump
    from loyalty_tools.local.stack import create_resources, use_endpoints
    from loyalty_tools.local.streams import StreamPump

    use_local_aws()
    with DynamoDBLocal() as dynamodb, MotoServer(port=0) as moto:
        use_endpoints(moto.endpoint, dynamodb.endpoint)
        os.environ["AUTH_CACHE_SECONDS"] = "300"  # as API Gateway caches the authorizer's answer
        resources = create_resources()
        from app import app
        from chalicelib.services import keys as api_keys
        from tests.support import Api

        meter = Meter()
        meter.install()
        meter.indexes = model.indexes_of(table_definition(resources.table_name))
        _, storefront = api_keys.create_key("storefront")
        _, ops = api_keys.create_key("ops")

        pumps = [
            StreamPump(resources.table_name, _stream_handler(meter, name, handler), function_name=name, batch_size=size)
            for name, handler, size, _ in stream_sources(app)
        ]
        ingest = meter.timed("ingest", app.handler_map["ingest_queue_consumer"])
        pump = SqsPump(resources.queue_url, ingest, batch_size=1, wait_seconds=1).start()  # batch_size as app.py
        try:
            with Client(app) as client:
                gateway = client.http._local_gateway
                gateway._app_object = _TimedApp(app, lambda handler: meter.timed("api", handler))  # type: ignore[assignment]
                streams = {name: (size, window) for name, _, size, window in stream_sources(app)}
                sizer = StreamPump(resources.table_name, meter.size_records, function_name="bench", batch_size=1000)
                api = Api(client, storefront, ops)
                yield Stack(meter, api, sizer, pumps, resources, directory, streams)
        finally:
            pump.stop()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory, start_stack(Path(directory)) as stack:
        if not args.quick:  # the JVM's JIT and this process's first calls are slow: warm both
            earns(stack, 100, 50, "warm")
            sales_file(stack, 300, 50, "warm")
        started = time.perf_counter()
        results: dict[str, Any] = {
            "earn": earns(stack, args.earns, args.earn_members, "x"),
            "redemption": redemptions(stack, args.redemptions, args.earn_members, "x"),
            "file": sales_file(stack, args.file_rows, args.file_members, "s1"),
        }
        work, idle, changed = night_of_jobs(stack, args.members, args.due)
        results.update(night=work, idle=idle, changed=changed, streams=stack.streams)
        results["seconds"] = time.perf_counter() - started
        results["load"] = os.getloadavg()[1]  # the 5-minute load average at the end: timings stretch with it
        return results


def report(args: argparse.Namespace, results: dict[str, Any], memory: dict[str, int]) -> list[str]:
    units = {"earn": args.earns, "redemption": args.redemptions, "file": args.file_rows}
    usages = {
        "earn": usage_of(results["earn"], memory, results, (args.earns, args.rate)),
        "redemption": usage_of(results["redemption"], memory, results, (args.redemptions, args.rate)),
        **{name: usage_of(results[name], memory, results) for name in ("file", "night", "idle")},
    }
    night = model.dollars(usages["night"])
    for service, value in model.dollars(usages["idle"]).items():
        night[service] += (JOB_RUNS_PER_DAY - 1) * value
    columns = {
        "per 1M earns": model.per_million(model.dollars(usages["earn"]), units["earn"]),
        "per 1M redeems": model.per_million(model.dollars(usages["redemption"]), units["redemption"]),
        "per 1M file rows": model.per_million(model.dollars(usages["file"]), units["file"]),
        f"a night, {args.members // 1000 or args.members}{'k' if args.members >= 1000 else ''} members": night,
    }
    out = [
        f"Cost on paper: us-east-1 on-demand list prices as of {model.PRICES_AS_OF} (no free tier); Lambda arm64 "
        f"at the {args.stage} stage's sizing: API {memory['api']} MB, workers {memory['worker']} MB",
        f"measured on DynamoDB Local + moto in {results['seconds']:.0f} s (load average {results['load']:.1f} on "
        f"{os.cpu_count()} CPUs): {args.earns} earns, {args.redemptions} "
        f"redemptions, a {args.file_rows}-row sales file, a night of the six jobs over {args.members} members "
        f"({args.due} due for each job; {results['changed']} changes)",
        f"earns and redemptions arrive at a steady {args.rate:g}/s: a stream handler's invocations are the "
        "batches its window fills ("
        + ", ".join(f"{name}: batch {size}, window {window} s" for name, (size, window) in results["streams"].items())
        + "); the file and the jobs: the batches as delivered",
        "events: every PutEvents entry counted (the stream outbox's, or any other caller's)",
        "",
    ]
    for name, label in (("earn", "per earn"), ("redemption", "per redemption"), ("file", "per file row")):
        out += counts_line(f"{label} ({units[name]})", results[name], units[name])
    out += counts_line("a night of jobs (the working runs)", results["night"], 1)
    out += ["", "dollars:", *model.table(columns), ""]
    earn_total = sum(columns["per 1M earns"].values())
    verdict = "met" if earn_total <= model.EARN_GOAL else "NOT met"
    undoubled = results["earn"].gsi_doubled * model.DYNAMODB_PER_WRU * model.MILLION / units["earn"]
    out.append(
        f"goal <= ${model.EARN_GOAL:.2f} per million earns all-in: ${earn_total:.2f}, {verdict} "
        f"(${earn_total - undoubled:.2f} if AWS bills the global indexes' copies of a transaction's writes "
        "as standard writes, not doubled)"
    )
    out.append(f"jobs: ${sum(night.values()):.4f} a night, ${30 * sum(night.values()):.2f} for 30 nights")
    out += ["", "what would cut the earn's cost (dollars saved per million earns):"]
    for saved, what in levers(results["earn"], usages["earn"], units["earn"])[:6]:
        out.append(f"  -${saved:5.2f}  {what}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--earns", type=int, default=1000)
    parser.add_argument("--earn-members", type=int, default=1000, help="members the earns go to, round robin")
    parser.add_argument("--redemptions", type=int, default=300)
    parser.add_argument("--file-rows", type=int, default=10_000)
    parser.add_argument("--file-members", type=int, default=1000)
    parser.add_argument("--members", type=int, default=2000, help="the member base of the night of jobs")
    parser.add_argument("--due", type=int, default=200, help="of them due for each job")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="earns (or redemptions) a second, steady: sets the stream batches"
    )
    parser.add_argument("--stage", default="prod", help="whose Lambda memory sizes (infra/stages.py)")
    parser.add_argument("--quick", action="store_true", help="a tiny run (tests): no warm-up, small inputs")
    args = parser.parse_args()
    if args.quick:
        args.earns, args.earn_members, args.redemptions = 20, 20, 10
        args.file_rows, args.file_members, args.members, args.due = 200, 20, 100, 10
    memory = stage_memory(args.stage)
    print("\n".join(report(args, measure(args), memory)))


if __name__ == "__main__":
    main()
