"""The simulator's steps on AWS (services/simulation_runs.py, the `simulate` Lambda the state machine
of infra/simulation.py runs), against S3 on moto: a table export in DynamoDB's layout under
simulations/exports/, each data file sorted into buckets, each bucket replayed, the reports merged;
the result is the local run's over the same files. Bad input names no run and writes nothing."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from bench import simulate as synthetic
from chalicelib.program import PROGRAM_FILE
from chalicelib.services import simulation_runs
from chalicelib.store import aws, exports
from loyalty_tools import simulate as simulator

BUCKET = "loyalty-simulations-test"
EXPORT = "simulations/exports/AWSDynamoDB/01234-abcd/"
RUN = "silver-1500"


def export_files(members: int, per_file: int) -> dict[str, bytes]:
    """An export of synthetic members in DynamoDB's layout: key -> body. Each member's items are split
    over two files (as an AWS export may), the campaign-free table's members only."""
    rng = random.Random(3)
    files: dict[int, list[str]] = {}
    for number in range(members):
        for index, item in enumerate(synthetic.member_items(rng, number)):
            files.setdefault((number // per_file + index % 2) % 3, []).append(exports.line_of(item))
    found = {
        f"{EXPORT}data/{n:04d}.json.gz": gzip.compress("".join(line + "\n" for line in lines).encode())
        for n, lines in files.items()
    }
    manifest = "".join(json.dumps({"itemCount": 0, "dataFileS3Key": key}) + "\n" for key in found)
    found[f"{EXPORT}manifest-files.json"] = manifest.encode()
    summary = {"exportTime": synthetic.EXPORTED.isoformat(), "itemCount": 0, "outputFormat": "DYNAMODB_JSON"}
    found[f"{EXPORT}manifest-summary.json"] = json.dumps(summary).encode()
    return found


def run_input(**extra: Any) -> dict[str, Any]:
    return {"run": RUN, "export": EXPORT, "from": None, "to": None, "check": False, "bucket": BUCKET, **extra}


def test_the_steps_on_s3_give_the_local_result(moto_env: None, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    files = export_files(members=40, per_file=15)
    for key, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"simulations/runs/{RUN}/program.json", Body=synthetic.proposal_text().encode())

    # As the state machine runs them: one `sort` per manifest line, one `replay` per bucket, one `merge`.
    manifest = files[f"{EXPORT}manifest-files.json"].decode().splitlines()
    for line in manifest:
        key = json.loads(line)["dataFileS3Key"]
        sorted_ = simulation_runs.handle({"step": "sort", "bucket": BUCKET, "key": key, "run": RUN, "buckets": 4})
        assert sorted_["buckets"] >= 1
    for index in range(4):
        simulation_runs.handle({"step": "replay", "index": index, **run_input()})
    with Client(app) as client:  # the last step through the app's `simulate` function, as Lambda runs it
        merged = client.lambda_.invoke("simulate", {"step": "merge", **run_input()}).payload
    assert merged["members"] == 40 and merged["result"] == f"simulations/runs/{RUN}/result.txt"
    table = s3.get_object(Bucket=BUCKET, Key=merged["result"])["Body"].read().decode()
    assert "points earned" in table and "members who would move" in table
    result = json.loads(s3.get_object(Bucket=BUCKET, Key=f"simulations/runs/{RUN}/result.json")["Body"].read())

    # The same files as a local export: the same figures.
    local = tmp_path / "export"
    (local / "data").mkdir(parents=True)
    for key, body in files.items():
        target = local / "data" / Path(key).name if "/data/" in key else local / Path(key).name
        target.write_bytes(body)
    run = simulator.run(local, synthetic.proposal_text(), PROGRAM_FILE.read_text(encoding="utf-8"), workers=1)
    assert result == run.report.as_dict() and run.members == 40


@pytest.mark.parametrize(
    "event",
    [
        {"step": "drop"},
        {"step": "sort", "bucket": BUCKET, "key": "incoming/s001/2026-01-01.csv", "run": RUN},
        {"step": "sort", "bucket": BUCKET, "key": f"{EXPORT}data/0000.json.gz", "run": "../other"},
        {"step": "replay", "index": 0, **run_input(export="incoming/")},
    ],
)
def test_bad_input_is_refused_and_writes_nothing(moto_env: None, event: dict[str, Any]) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"simulations/runs/{RUN}/program.json", Body=synthetic.proposal_text().encode())
    with pytest.raises(simulation_runs.BadRun):
        simulation_runs.handle(event)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [f"simulations/runs/{RUN}/program.json"]
