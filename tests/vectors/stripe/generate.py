"""Stripe webhook signature vectors made and checked by Stripe's official Python SDK.

Writes vectors.json beside this file (see README.md). Everything is deterministic: the secrets
are fixed throwaway test-only values, the timestamps are fixed, and the SDK's clock is pinned.
"""

import json
import os
import time

import stripe
from stripe import _webhook

assert stripe.VERSION == "16.1.0", stripe.VERSION

SECRET = "whsec_test_only_paygate_vectors_0123456789abcdef"
OTHER_SECRET = "whsec_test_only_rotated_away_fedcba9876543210"
NOW = 1767225600  # 2026-01-01T00:00:00Z: what "now" is for every check below
TOLERANCE = 300
WebhookSignature = stripe.WebhookSignature


def pinned(now):
    _webhook.time.time = lambda: now


def sdk_accepts(body, header, now=NOW):
    pinned(now)
    try:
        WebhookSignature.verify_header(body, header, SECRET, tolerance=TOLERANCE)
        return True
    except stripe.SignatureVerificationError:
        return False


def sign(body, secret, t):
    return WebhookSignature.generate_signature_header(body, secret, timestamp=t)


def v1_of(header):
    return [p.split("=", 1)[1] for p in header.split(",") if p.startswith("v1=")]


def event(evt_id, kind, obj):
    return json.dumps(
        {
            "id": evt_id,
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": NOW - 5,
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": obj},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def intent(status, amount=1234, currency="usd"):
    return {
        "id": "pi_3TestOnlyVector0001",
        "object": "payment_intent",
        "amount": amount,
        "currency": currency,
        "status": status,
        "description": "测试商品 & tea",
        "metadata": {"trade_no": "0190a1b2c3d4e5f60718293a4b5c6d7e"},
    }


def refund(status):
    return {
        "id": "re_3TestOnlyVector0001",
        "object": "refund",
        "amount": 500,
        "currency": "usd",
        "status": status,
        "payment_intent": "pi_3TestOnlyVector0001",
        "metadata": {"trade_no": "0190a1b2c3d4e5f60718293a4b5c6d7e", "refund_no": "0190a1b2c3d4e5f60718293a4b5c6d7f"},
    }


bodies = [
    ("payment_succeeded", event("evt_test_0001", "payment_intent.succeeded", intent("succeeded"))),
    ("payment_succeeded_jpy", event("evt_test_0002", "payment_intent.succeeded", intent("succeeded", 500, "jpy"))),
    ("payment_failed", event("evt_test_0003", "payment_intent.payment_failed", intent("requires_payment_method"))),
    ("payment_canceled", event("evt_test_0004", "payment_intent.canceled", intent("canceled"))),
    ("refund_succeeded", event("evt_test_0005", "refund.updated", refund("succeeded"))),
    ("refund_failed", event("evt_test_0006", "refund.failed", refund("failed"))),
]

accepted = []
for name, body in bodies:
    t = NOW - 5
    header = sign(body, SECRET, t)
    assert sdk_accepts(body, header), name
    accepted.append({"name": name, "now": NOW, "header": header, "body": body})

# Several v1 values (a secret being rolled): the SDK's header for the old secret, then ours.
body = bodies[0][1]
t = NOW - 5
multi = "t=%d,v1=%s,v1=%s" % (t, v1_of(sign(body, OTHER_SECRET, t))[0], v1_of(sign(body, SECRET, t))[0])
assert sdk_accepts(body, multi)
accepted.append({"name": "several_v1_ours_second", "now": NOW, "header": multi, "body": body})
# A v0 scheme beside v1 is ignored.
with_v0 = sign(body, SECRET, t) + ",v0=" + "0" * 64
assert sdk_accepts(body, with_v0)
accepted.append({"name": "v0_beside_v1_ignored", "now": NOW, "header": with_v0, "body": body})
# At the edge of the tolerance.
edge = sign(body, SECRET, NOW - TOLERANCE)
assert sdk_accepts(body, edge)
accepted.append({"name": "exactly_at_the_tolerance", "now": NOW, "header": edge, "body": body})

rejected = []
expired = sign(body, SECRET, NOW - TOLERANCE - 1)
assert not sdk_accepts(body, expired)
rejected.append({"name": "expired_timestamp", "now": NOW, "header": expired, "body": body, "reason": "stale_timestamp"})
tampered = body.replace('"amount":1234', '"amount":1')
assert tampered != body
good = sign(body, SECRET, t)
assert not sdk_accepts(tampered, good)
rejected.append({"name": "tampered_body", "now": NOW, "header": good, "body": tampered, "reason": "bad_signature"})
wrong = sign(body, OTHER_SECRET, t)
assert not sdk_accepts(body, wrong)
rejected.append({"name": "other_secret", "now": NOW, "header": wrong, "body": body, "reason": "bad_signature"})
moved_t = good.replace("t=%d" % t, "t=%d" % (t + 1))
assert not sdk_accepts(body, moved_t)
rejected.append({"name": "timestamp_changed", "now": NOW, "header": moved_t, "body": body, "reason": "bad_signature"})
no_v1 = "t=%d" % t
assert not sdk_accepts(body, no_v1)
rejected.append({"name": "no_v1", "now": NOW, "header": no_v1, "body": body, "reason": "bad_signature"})

out = {
    "sdk": {"package": "stripe", "version": stripe.VERSION},
    "secret": SECRET,
    "tolerance": TOLERANCE,
    "accepted": accepted,
    "rejected": rejected,
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=2)
    f.write("\n")
print("wrote", len(accepted), "accepted and", len(rejected), "rejected vectors")
