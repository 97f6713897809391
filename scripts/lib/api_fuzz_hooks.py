"""schemathesis hooks for scripts/api-fuzz: signs every request to paygate's upstream HTTP API.

Loaded through SCHEMATHESIS_HOOKS. Signing happens at the last moment, on the prepared request
(its method, path with query, and body bytes exactly as they go on the wire), as
docs/http-api.md says: HMAC-SHA256 over METHOD, path, timestamp, nonce and the body's SHA-256,
keyed with the SHA-256 of the key's secret (PAYGATE_API_KEY, PAYGATE_API_SECRET).
"""

import hashlib
import hmac
import os
import time
import uuid

import requests.adapters

KEY = os.environ["PAYGATE_API_KEY"]
SIGNING_KEY = hashlib.sha256(os.environ["PAYGATE_API_SECRET"].encode()).digest()

_send = requests.adapters.HTTPAdapter.send


def _signed_send(self, request, *args, **kwargs):
    if request.path_url.startswith("/v1/"):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = str(int(time.time()))
        nonce = uuid.uuid4().hex
        to_sign = "\n".join(
            [request.method, request.path_url, timestamp, nonce, hashlib.sha256(body).hexdigest()]
        )
        request.headers["Paygate-Key"] = KEY
        request.headers["Paygate-Timestamp"] = timestamp
        request.headers["Paygate-Nonce"] = nonce
        request.headers["Paygate-Signature"] = hmac.new(
            SIGNING_KEY, to_sign.encode(), hashlib.sha256
        ).hexdigest()
    return _send(self, request, *args, **kwargs)


requests.adapters.HTTPAdapter.send = _signed_send
