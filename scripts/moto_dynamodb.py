"""Serve moto's DynamoDB on 127.0.0.1, one request at a time.

`moto_server` always runs threaded, and a threaded moto can lose concurrent `ADD` updates to
one item. Serving moto's WSGI app from werkzeug with `threaded=False` applies every request in
arrival order, which is what DynamoDB's per-item atomicity promises. (werkzeug's server closes
each connection after its answer, so every request opens a connection; DynamoDB keeps them.)

moto's TransactWriteItems deep-copies every table a transaction touches, once per item, to roll
back on failure: with tens of thousands of items each transaction costs seconds. The same
contract is kept here without the copy: every condition is checked against the state before the
transaction (as DynamoDB does), and only then are the writes applied; if applying fails, the
touched items are put back as they were.

moto's Query looks at every item of the table, sorted, for each request (and each page): with
tens of thousands of items an index query costs a second. Here the items are grouped once by
the attribute a query names (the index's or the table's hash key) and the groups reused until
the next request that may write; moto's own query then filters, sorts and pages the group
exactly as before, so the answers are the same.

Usage: moto_dynamodb.py [--port N] [--port-file PATH]
Port 0 (the default) picks a free port; the chosen endpoint is printed on stdout as
`endpoint=http://127.0.0.1:PORT` and written to --port-file when given.
"""

import argparse
import copy
import os
import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from werkzeug.serving import make_server

OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def transact_write_items(self, transact_items):
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen = set()
    plan = []
    errors = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in OPERATIONS:
            errors.append(("ValidationError", "Unsupported transaction operation", None))
            continue
        table = self.get_table(op["TableName"])
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        marker = (table.name, str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        current = self.get_item(table.name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
        errors.append((None, None, None))
        plan.append((op_type, op, table, key, copy.deepcopy(current)))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    applied = []
    try:
        for step in plan:
            op_type, op, table, key, _ = step
            applied.append(step)
            if op_type == "Put":
                self.put_item(table.name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table.name, key)
            elif op_type == "Update":
                self.update_item(
                    table.name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
    except Exception:
        for _, _, table, key, before in reversed(applied):
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = (
                DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            )
            if before is None:
                table.delete_item(hash_value, range_value)
            elif range_value is not None:
                table.items[hash_value][range_value] = before
            else:
                table.items[hash_value] = before
        raise


DynamoDBBackend.transact_write_items = transact_write_items


# Requests that never change a table; any other request drops the grouped items.
READS = {
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "DescribeTable",
    "DescribeTimeToLive",
    "ListTables",
}
writes = 0
# The (attribute, value) the query being served names; the server serves one at a time.
hint = None
original_all_items = Table.all_items
original_query = Table.query


def all_items(self):
    """Every item, sorted; during a query, only those whose hash attribute matches."""
    if hint is None:
        return original_all_items(self)
    attr, value = hint
    cache = self.__dict__.get("callstats_groups")
    if cache is None or cache[0] != writes:
        cache = (writes, {})
        self.callstats_groups = cache
    groups = cache[1].get(attr)
    if groups is None:
        groups = {}
        for item in original_all_items(self):
            key = item.attrs.get(attr)
            if key is not None:
                groups.setdefault(key, []).append(item)
        cache[1][attr] = groups
    return list(groups.get(value, ()))


def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
          scan_index_forward, projection_expressions, index_name=None, *args,
          hash_key_conditions=None, **kwargs):
    global hint
    wanted = None
    if index_name is None and hash_key is not None:
        wanted = (self.hash_key_attr, hash_key)
    elif index_name is not None and hash_key_conditions and len(hash_key_conditions) == 1:
        wanted = hash_key_conditions[0]
    hint = wanted
    try:
        return original_query(
            self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
            scan_index_forward, projection_expressions, index_name, *args,
            hash_key_conditions=hash_key_conditions, **kwargs,
        )
    finally:
        hint = None


Table.all_items = all_items
Table.query = query


def counting_writes(app):
    """moto's app, noting each request that may change a table (see `all_items`)."""

    def serve(environ, start_response):
        global writes
        if environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] not in READS:
            writes += 1
        return app(environ, start_response)

    return serve


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()

    app = counting_writes(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", args.port, app, threaded=False, request_handler=QuietHandler
    )
    endpoint = f"http://127.0.0.1:{server.server_port}"
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(endpoint + "\n")
        os.replace(tmp, args.port_file)
    print(f"endpoint={endpoint}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
