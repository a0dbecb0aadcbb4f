"""Thin DynamoDB adapter: (de)serialisation, calls, and AWS errors turned into typed exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config import settings
from chalicelib.store import aws, retry

_serializer: Any = None
_deserializer: Any = None


def _codecs() -> tuple[Any, Any]:
    global _serializer, _deserializer
    if _serializer is None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        _serializer, _deserializer = TypeSerializer(), TypeDeserializer()
    return _serializer, _deserializer


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    serializer, _ = _codecs()
    return {k: serializer.serialize(v) for k, v in values.items() if v is not None}


def to_value(value: Any) -> Any:
    serializer, _ = _codecs()
    return serializer.serialize(value)


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    _, deserializer = _codecs()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def db() -> Any:
    return aws.client("dynamodb")


def table() -> str:
    return settings().table_name


class StoreError(Exception):
    """The table could not be reached or stayed throttled after the SDK's retries."""


class ConditionFailed(Exception):
    """A single write's condition did not hold (outside a transaction: inside one, see Cancelled)."""


class TransactionConflict(Exception):
    """A single write met a transaction in flight on its item: the same write may pass on a retry."""


@dataclass
class Cancelled(Exception):
    """A transaction was cancelled; `failed` is the index of the first item whose condition failed."""

    failed: int | None
    reasons: list[dict[str, Any]]

    @property
    def conflict(self) -> bool:
        """Another transaction held one of the items: the same transaction may pass on a retry."""
        return any(r.get("Code") == "TransactionConflict" for r in self.reasons)

    def condition_failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index].get("Code") == "ConditionalCheckFailed"

    def old_item(self, index: int) -> dict[str, Any] | None:
        item = self.reasons[index].get("Item") if index < len(self.reasons) else None
        return from_item(item) if item else None


_THROTTLES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def call(operation: str, **kwargs: Any) -> Any:
    """Call a DynamoDB operation; throttling and transport failures become StoreError."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(db(), operation)(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "TransactionCanceledException":
            reasons = exc.response.get("CancellationReasons", [])
            failed = next((i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"), None)
            raise Cancelled(failed, reasons) from exc
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(operation) from exc
        if code == "TransactionConflictException":
            raise TransactionConflict(operation) from exc
        if code in _THROTTLES or code == "TransactionInProgressException":
            raise StoreError(code) from exc
        raise
    except BotoCoreError as exc:
        raise StoreError(type(exc).__name__) from exc


def transact(items: list[dict[str, Any]]) -> None:
    call("transact_write_items", TransactItems=items)


def transact_retrying_conflicts(items: list[dict[str, Any]]) -> None:
    """A transaction on items many writers share (a file run, a sale and its returns), retried while
    it only lost a race (TransactionConflict); a failed condition is raised to the caller."""
    for attempt in retry.attempts(retry.SHARED_ITEMS):
        try:
            transact(items)
            return
        except Cancelled as cancelled:
            if cancelled.failed is not None or not cancelled.conflict or attempt == retry.SHARED_ITEMS.attempts - 1:
                raise


def put(values: dict[str, Any], condition: str | None = None, old_on_fail: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table(), "Item": to_item(values)}
    if condition:
        op["ConditionExpression"] = condition
    if old_on_fail:
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Put": op}


def update(
    key: dict[str, str],
    expression: str,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table(), "Key": to_item(key), "UpdateExpression": expression}
    if values:
        op["ExpressionAttributeValues"] = {k: to_value(v) for k, v in values.items()}
    if names:
        op["ExpressionAttributeNames"] = names
    if condition:
        op["ConditionExpression"] = condition
    return {"Update": op}


def set_and_remove(
    key: dict[str, str],
    changes: dict[str, Any],
    sets: list[str],
    values: dict[str, Any],
    names: dict[str, str] | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    """An update that sets each changed attribute and removes the ones changed to None, after the
    given `sets` (e.g. a version bump, with their `values`)."""
    names, values, sets, removes = dict(names or {}), dict(values), list(sets), []
    for index, (name, value) in enumerate(sorted(changes.items())):
        names[f"#a{index}"] = name
        if value is None:
            removes.append(f"#a{index}")
        else:
            sets.append(f"#a{index} = :a{index}")
            values[f":a{index}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return update(key, expression, values, names, condition)


def put_item(
    values: dict[str, Any], condition: str | None = None, condition_values: dict[str, Any] | None = None
) -> None:
    """One conditional put outside a transaction (ConditionFailed when the condition does not hold)."""
    op = put(values, condition)["Put"]
    if condition_values:
        op["ExpressionAttributeValues"] = {name: to_value(value) for name, value in condition_values.items()}
    call("put_item", **op)


def update_item(key: dict[str, str], expression: str, values: dict[str, Any], condition: str | None = None) -> None:
    """One update outside a transaction (ConditionFailed when the condition does not hold)."""
    call("update_item", **update(key, expression, values, None, condition)["Update"])


def delete_item(key: dict[str, str], condition: str, values: dict[str, Any]) -> None:
    """One conditional delete outside a transaction (ConditionFailed when the condition does not hold)."""
    op = {**delete(key)["Delete"], "ConditionExpression": condition}
    op["ExpressionAttributeValues"] = {name: to_value(value) for name, value in values.items()}
    call("delete_item", **op)


def delete(key: dict[str, str]) -> dict[str, Any]:
    return {"Delete": {"TableName": table(), "Key": to_item(key)}}


def get(key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
    answer = call("get_item", TableName=table(), Key=to_item(key), ConsistentRead=consistent)
    item = answer.get("Item")
    return from_item(item) if item else None


def query(
    pk: str,
    sk_prefix: str,
    consistent: bool = True,
    limit: int | None = None,
    index: str | None = None,
    forward: bool = True,
    start: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a Query on the partition `pk`, sort keys starting with `sk_prefix`."""
    kwargs: dict[str, Any] = {
        "TableName": table(),
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
        "ConsistentRead": consistent,
        "ScanIndexForward": forward,
    }
    if index:
        kwargs["IndexName"] = index
    if index or not sk_prefix:  # the whole partition (of the index)
        kwargs["KeyConditionExpression"] = "pk = :pk"
        del kwargs["ExpressionAttributeValues"][":prefix"]
    if limit:
        kwargs["Limit"] = limit
    if start:
        kwargs["ExclusiveStartKey"] = start
    answer = call("query", **kwargs)
    return [from_item(i) for i in answer.get("Items", [])], answer.get("LastEvaluatedKey")


def query_all(pk: str, sk_prefix: str, consistent: bool = True) -> list[dict[str, Any]]:
    items, start = query(pk, sk_prefix, consistent)
    while start:
        more, start = query(pk, sk_prefix, consistent, start=start)
        items.extend(more)
    return items


def query_between(pk: str, low: str, high: str, consistent: bool = False) -> list[dict[str, Any]]:
    """Every item of the partition `pk` whose sort key is between `low` and `high` (both included)."""
    kwargs: dict[str, Any] = {
        "TableName": table(),
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
        "ConsistentRead": consistent,
    }
    items: list[dict[str, Any]] = []
    while True:
        answer = call("query", **kwargs)
        items.extend(from_item(i) for i in answer.get("Items", []))
        if not answer.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
