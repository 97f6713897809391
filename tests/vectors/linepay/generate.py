#!/usr/bin/env python3
"""LINE Pay Online API v3 request-signature vectors, computed independently of paygate.

The algorithm, as LINE Pay's reference publishes it (developers-pay.line.me, "Request header"):

    X-LINE-Authorization = Base64(HMAC-SHA256(key = channelSecret,
                                              message = channelSecret + apiPath + X + nonce))

where X is the request body of a POST, or the query string without "?" of a GET. Python 3.11
standard library only (hmac, hashlib, base64, json); no network. Run from the repository root:

    python3 tests/vectors/linepay/generate.py

Everything is fixed (secrets, nonces, bodies), so the output is the same at every run.
The secrets are throwaway test-only values, never a LINE Pay channel's.
"""

import base64
import hashlib
import hmac
import json
import pathlib

SECRET = "test_only_linepay_channel_secret_0123456789"
OTHER_SECRET = "test_only_not_this_channels_secret"


def sign(secret: str, path: str, body_or_query: str, nonce: str) -> str:
    message = (secret + path + body_or_query + nonce).encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")


def compact(obj) -> str:
    # The exact bytes sent: compact JSON, UTF-8 kept raw (not \\u-escaped), as serde_json writes it.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


CASES = [
    {
        "name": "request_with_a_non_ascii_product_name",
        "method": "POST",
        "path": "/v3/payments/request",
        "nonce": "3f9a3a4e-4f5e-4b7b-9d2c-0d6a1e2b3c4d",
        "body_or_query": compact({
            "amount": 1000, "currency": "TWD", "orderId": "0190a1b2c3d4e5f60718293a4b5c6d7e",
            "packages": [{"id": "1", "amount": 1000,
                          "products": [{"name": "測試商品 & more", "quantity": 1, "price": 1000}]}],
            "redirectUrls": {"confirmUrl": "https://paygate.example/return/linepay/0190a1b2c3d4e5f60718293a4b5c6d7e",
                             "cancelUrl": "https://shop.example/cancel"},
        }),
    },
    {
        "name": "request_in_japanese_yen_with_emoji",
        "method": "POST",
        "path": "/v3/payments/request",
        "nonce": "00000000-0000-4000-8000-000000000001",
        "body_or_query": compact({
            "amount": 1, "currency": "JPY", "orderId": "ffffffffffffffffffffffffffffffff",
            "packages": [{"id": "1", "amount": 1,
                          "products": [{"name": "コーヒー ☕", "quantity": 1, "price": 1}]}],
            "redirectUrls": {"confirmUrl": "https://p.example/r", "cancelUrl": "https://p.example/c"},
        }),
    },
    {
        "name": "confirm",
        "method": "POST",
        "path": "/v3/payments/2019060112345678910/confirm",
        "nonce": "c1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
        "body_or_query": compact({"amount": 1000, "currency": "TWD"}),
    },
    {
        "name": "full_refund_with_an_empty_object_body",
        "method": "POST",
        "path": "/v3/payments/2019060112345678910/refund",
        "nonce": "1700000000000",
        "body_or_query": "{}",
    },
    {
        "name": "check_get_without_a_query_string",
        "method": "GET",
        "path": "/v3/payments/requests/2019060112345678910/check",
        "nonce": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        "body_or_query": "",
    },
    {
        "name": "details_get_with_a_query_string",
        "method": "GET",
        "path": "/v3/payments",
        "nonce": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
        "body_or_query": "orderId=0190a1b2c3d4e5f60718293a4b5c6d7e&fields=ALL",
    },
]


def main() -> None:
    accepted = []
    for case in CASES:
        v = dict(case)
        v["signature"] = sign(SECRET, case["path"], case["body_or_query"], case["nonce"])
        accepted.append(v)

    base = accepted[0]
    rejected = [
        dict(base, name="body_changed_after_signing",
             body_or_query=base["body_or_query"].replace("1000", "1001", 1), reason="body"),
        dict(base, name="nonce_changed_after_signing", nonce=base["nonce"][:-1] + "e", reason="nonce"),
        dict(base, name="path_changed_after_signing", path="/v3/payments/requests", reason="path"),
        dict(base, name="signed_with_another_secret",
             signature=sign(OTHER_SECRET, base["path"], base["body_or_query"], base["nonce"]), reason="secret"),
        dict(accepted[5], name="query_with_a_leading_question_mark",
             body_or_query="?" + accepted[5]["body_or_query"], reason="query"),
    ]
    for r in rejected:
        assert sign(SECRET, r["path"], r["body_or_query"], r["nonce"]) != r["signature"], r["name"]

    out = {
        "algorithm": "Base64(HMAC-SHA256(key=channelSecret, msg=channelSecret+path+bodyOrQuery+nonce))",
        "made_by": "Python 3.11 stdlib hmac/hashlib/base64 (tests/vectors/linepay/generate.py)",
        "secret": SECRET,
        "accepted": accepted,
        "rejected": rejected,
    }
    path = pathlib.Path(__file__).with_name("vectors.json")
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(accepted)} accepted and {len(rejected)} rejected vectors to {path}")


if __name__ == "__main__":
    main()
