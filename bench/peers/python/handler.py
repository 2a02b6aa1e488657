"""GET /products/{id} as a minimal Python 3.11 Lambda with boto3: the cold-path peer of
`cargo xtask bench`. It runs the Lambda Runtime API loop itself (what the managed runtime
would do) so all three languages are timed through the same fake Runtime API:
GET next -> GetItem (consistent) -> POST response."""

import json
import os
import re
import urllib.request
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"
TABLE = os.environ["TABLE_NAME"]
# Built once per cold start, like any Lambda would.
# The service-specific variable first, as the Rust SDK reads them (DynamoDB Local vs moto).
DYNAMODB = boto3.client(
    "dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
)
DESERIALIZE = TypeDeserializer().deserialize
INTERNAL = re.compile(r"^(pk|sk|entity|title_words|gsi\d+(pk|sk))$")


def number(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value)}")


def respond(status, payload):
    return {
        "statusCode": status,
        "statusDescription": str(status),
        "headers": {"content-type": "application/json" if status == 200 else "application/problem+json"},
        "body": json.dumps(payload, default=number),
        "isBase64Encoded": False,
    }


def handle(event):
    match = re.fullmatch(r"/products/([^/]+)", event.get("path") or "")
    if not match:
        return respond(404, {"title": "Not Found", "status": 404})
    out = DYNAMODB.get_item(
        TableName=TABLE,
        Key={"pk": {"S": f"PRODUCT#{match.group(1)}"}, "sk": {"S": "PRODUCT"}},
        ConsistentRead=True,
    )
    item = {k: DESERIALIZE(v) for k, v in out.get("Item", {}).items()}
    if item.get("status") != "active":
        return respond(404, {"title": "Not Found", "status": 404})
    return respond(200, {k: v for k, v in item.items() if not INTERNAL.match(k)})


def post(path, payload):
    body = json.dumps(payload).encode()
    request = urllib.request.Request(f"{API}/{path}", data=body, headers={"content-type": "application/json"})
    urllib.request.urlopen(request).read()


while True:
    with urllib.request.urlopen(f"{API}/next") as next_event:
        request_id = next_event.headers["lambda-runtime-aws-request-id"]
        event = json.loads(next_event.read())
    try:
        post(f"{request_id}/response", handle(event))
    except Exception as err:  # noqa: BLE001 - report any failure to the Runtime API, as Lambda does
        post(f"{request_id}/error", {"errorType": type(err).__name__, "errorMessage": str(err)})
