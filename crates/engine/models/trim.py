#!/usr/bin/env python3
"""Regenerate the trimmed service models the engine's request validator embeds.

Usage (from anywhere):  pip install botocore && python3 crates/engine/models/trim.py

Reads botocore's service-2.json for each service below and writes
<service>-<api version>.json next to this script, keeping only what validation needs:
metadata (ids and protocol), operations (name, input, output, errors) and shapes
(type, members, required, member/key/value, min, max, pattern, enum, error/exception
flags). Documentation strings, examples and endpoint rules are dropped.

One deliberate change to botocore's data: the members of some input structures are
listed in the order the real service reports them in a ValidationException (the
service checks members in its own order, which is neither alphabetical nor the
model's). That order was recorded against AWS by kinesalite's test suite; the table
ORDER below holds it. Members not in the table keep the model's order, after the
listed ones. Likewise the values of an enum are listed in the order the service prints
them in "Member must satisfy enum value set: [...]" where that was recorded (ENUM_ORDER).

botocore is Apache-2.0 licensed; see NOTICE.
"""
import gzip
import json
import os
import sys

import botocore

SERVICES = [("kinesis", "2013-12-02"), ("dynamodb", "2012-08-10")]

KEEP_METADATA = ["apiVersion", "endpointPrefix", "jsonVersion", "protocol", "serviceId",
                 "targetPrefix", "uid"]
KEEP_OPERATION = ["name", "input", "output", "errors"]
KEEP_SHAPE = ["type", "required", "members", "member", "key", "value", "min", "max",
              "pattern", "enum", "exception", "fault", "error", "event", "eventstream",
              "streaming"]
KEEP_MEMBER = ["shape"]

# Member order of input structures as the service reports violations (recorded by
# kinesalite against Kinesis; see the module docstring).
ORDER = {
    "kinesis": {
        "AddTagsToStreamInput": ["Tags", "StreamName"],
        "CreateStreamInput": ["ShardCount", "StreamName"],
        "DecreaseStreamRetentionPeriodInput": ["RetentionPeriodHours", "StreamName"],
        "DeleteStreamInput": ["StreamName"],
        "DescribeStreamInput": ["Limit", "ExclusiveStartShardId", "StreamName"],
        "DescribeStreamSummaryInput": ["StreamName"],
        "GetRecordsInput": ["Limit", "ShardIterator"],
        "GetShardIteratorInput": ["ShardId", "ShardIteratorType", "StartingSequenceNumber",
                                  "StreamName", "Timestamp"],
        "IncreaseStreamRetentionPeriodInput": ["RetentionPeriodHours", "StreamName"],
        "ListShardsInput": ["ExclusiveStartShardId", "MaxResults", "NextToken",
                            "StreamCreationTimestamp", "StreamName"],
        "ListStreamsInput": ["Limit", "ExclusiveStartStreamName"],
        "ListTagsForStreamInput": ["Limit", "ExclusiveStartTagKey", "StreamName"],
        "MergeShardsInput": ["ShardToMerge", "AdjacentShardToMerge", "StreamName"],
        "PutRecordInput": ["SequenceNumberForOrdering", "PartitionKey", "ExplicitHashKey",
                           "Data", "StreamName"],
        "PutRecordsInput": ["Records", "StreamName"],
        "PutRecordsRequestEntry": ["PartitionKey", "ExplicitHashKey", "Data"],
        "RemoveTagsFromStreamInput": ["TagKeys", "StreamName"],
        "SplitShardInput": ["NewStartingHashKey", "StreamName", "ShardToSplit"],
    },
    # Recorded by dynalite against DynamoDB (CreateTable, UpdateTable, and the
    # global indexes' throughput), and seen in answers of today's service.
    "dynamodb": {
        "ProvisionedThroughput": ["WriteCapacityUnits", "ReadCapacityUnits"],
    },
}

# Enum values in the order the service prints them (recorded by kinesalite).
ENUM_ORDER = {
    "kinesis": {
        "ShardIteratorType": ["AFTER_SEQUENCE_NUMBER", "LATEST", "AT_TIMESTAMP",
                              "AT_SEQUENCE_NUMBER", "TRIM_HORIZON"],
    },
}


def pick(d, keys):
    return {k: d[k] for k in keys if k in d}


def trim_shape(name, shape, order, enum_order):
    out = pick(shape, KEEP_SHAPE)
    if name in enum_order:
        if sorted(enum_order[name]) != sorted(out.get("enum", [])):
            sys.exit(f"trim.py: ENUM_ORDER for {name} no longer matches the model's values")
        out["enum"] = enum_order[name]
    if "members" in out:
        members = {m: pick(v, KEEP_MEMBER) for m, v in out["members"].items()}
        first = [m for m in order.get(name, []) if m in members]
        missing = [m for m in order.get(name, []) if m not in members]
        if missing:
            sys.exit(f"trim.py: ORDER names {missing} that {name} no longer has")
        rest = [m for m in members if m not in first]
        out["members"] = {m: members[m] for m in first + rest}
    for ref in ("member", "key", "value"):
        if ref in out:
            out[ref] = pick(out[ref], KEEP_MEMBER)
    return out


def load(service, version):
    base = os.path.join(os.path.dirname(botocore.__file__), "data", service, version)
    plain = os.path.join(base, "service-2.json")
    if os.path.exists(plain):
        with open(plain) as f:
            return json.load(f)
    with gzip.open(plain + ".gz") as f:
        return json.load(f)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for service, version in SERVICES:
        model = load(service, version)
        order = ORDER.get(service, {})
        enum_order = ENUM_ORDER.get(service, {})
        unknown = [n for n in list(order) + list(enum_order) if n not in model["shapes"]]
        if unknown:
            sys.exit(f"trim.py: ORDER names shapes {unknown} that {service} no longer has")
        trimmed = {
            "source": f"botocore {botocore.__version__} data/{service}/{version}/service-2.json (trimmed by trim.py)",
            "metadata": pick(model["metadata"], KEEP_METADATA),
            "operations": {n: pick(op, KEEP_OPERATION) for n, op in model["operations"].items()},
            "shapes": {n: trim_shape(n, s, order, enum_order) for n, s in model["shapes"].items()},
        }
        path = os.path.join(here, f"{service}-{version}.json")
        with open(path, "w") as f:
            json.dump(trimmed, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"wrote {path}: {len(trimmed['operations'])} operations, {len(trimmed['shapes'])} shapes")


if __name__ == "__main__":
    main()
