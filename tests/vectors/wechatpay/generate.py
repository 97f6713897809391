#!/usr/bin/env python3
"""Generates the WeChat Pay API v3 test vectors (README.md beside this file) with the PyPI SDK
`wechatpayv3` (pinned in requirements.txt). Nothing here is used by paygate at run time: the Rust
tests read the JSON this writes.

Every key made here is a THROWAWAY, TEST-ONLY key, generated fresh on each run and committed in
the vectors; none of them has ever been, or may ever be, registered with WeChat Pay.

What the SDK produces and what this script computes (each vector says which, in `produced_by`):
- Request Authorization headers: the SDK's `wechatpayv3.utils.build_authorization`, the function
  its HTTP client calls for every request. Its nonce is a parameter; its timestamp is
  `time.time()`, which this script pins by patching `wechatpayv3.utils.time.time` for the call.
  The signed message is not returned by the SDK: the script writes the documented
  `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n` next to it and checks, with `cryptography`,
  that the SDK's signature verifies over exactly that message.
- Signed responses and notifications (WeChat Pay's side): the SDK only verifies these, so the
  script builds the documented message `TIMESTAMP\\nNONCE\\nBODY\\n` and signs it with the SDK's
  `wechatpayv3.utils.rsa_sign` (SHA256withRSA, PKCS#1 v1.5) under a platform key; then the SDK's
  own verification (`Core._verify_signature`, reached through `WeChatPay.callback` for
  notifications) must accept each one, and must refuse a copy with one body byte changed.
- Encrypted notification resources: the script encrypts with `cryptography`'s AESGCM (the same
  primitive the SDK decrypts with) under the APIv3 key, with a fixed 12-character nonce and the
  resource's associated_data, and checks that the SDK's `WeChatPay.callback` (and
  `wechatpayv3.utils.aes_decrypt`) recovers the plaintext exactly.
- Variants that must be refused (tampered, stale) are built by the Rust tests from these vectors.

Run it with the one command in README.md.
"""

import base64
import json
import os
import sys
from unittest import mock

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import wechatpayv3
import wechatpayv3.utils as sdk_utils
from wechatpayv3 import WeChatPay, WeChatPayType

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = {"package": "wechatpayv3", "version": wechatpayv3.__version__}

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD2A4D5DF0"
# One platform key named by a "WeChat Pay public key" id, one by a platform certificate serial
# (hex), as Wechatpay-Serial carries either.
PLATFORM_SERIALS = ["PUB_KEY_ID_0119000001092025010100000000000001", "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"]
# A throwaway APIv3 key: 32 ASCII characters, used as the 32-byte AES-256 key.
APIV3_KEY = "T3stOnlyApiV3Key0123456789abcdef"
assert len(APIV3_KEY.encode()) == 32


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_pkcs8(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def pem_pkcs1(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def pem_spki(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def verifies(public_key, message, signature_b64):
    try:
        public_key.verify(base64.b64decode(signature_b64), message.encode(), padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:
        return False


def client(merchant_pem, serial, platform_key):
    """The SDK's client in "WeChat Pay public key" mode: no certificate download, no network."""
    return WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=MCHID,
        private_key=merchant_pem,
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        public_key=pem_spki(platform_key),
        public_key_id=serial,
    )


def request_vector(name, merchant_key, method, path, body, timestamp, nonce):
    with mock.patch.object(sdk_utils.time, "time", return_value=float(timestamp)):
        authorization = sdk_utils.build_authorization(
            path, method, MCHID, MERCHANT_SERIAL, merchant_key, data=body, nonce_str=nonce
        )
    message = "%s\n%s\n%s\n%s\n%s\n" % (method, path, timestamp, nonce, body)
    params = dict(
        part.split("=", 1)
        for part in authorization[len("WECHATPAY2-SHA256-RSA2048 "):].split(",")
    )
    params = {k: v.strip('"') for k, v in params.items()}
    signature = params["signature"]
    assert params["timestamp"] == str(timestamp) and params["nonce_str"] == nonce, authorization
    assert verifies(merchant_key.public_key(), message, signature), name
    return {
        "name": name,
        "method": method,
        "url_path": path,
        "timestamp": str(timestamp),
        "nonce": nonce,
        "body": body,
        "message": message,
        "signature": signature,
        "authorization": authorization,
        "produced_by": "SDK build_authorization (time.time pinned); message written by the script "
        "and checked to be what the signature covers",
    }


def signed(platform_key, timestamp, nonce, body):
    message = "%s\n%s\n%s\n" % (timestamp, nonce, body)
    return message, sdk_utils.rsa_sign(platform_key, message)


def headers_for(serial, timestamp, nonce, signature):
    return {
        "Wechatpay-Serial": serial,
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def response_vector(name, clients, platform_keys, index, timestamp, nonce, body):
    serial = PLATFORM_SERIALS[index]
    message, signature = signed(platform_keys[index], timestamp, nonce, body)
    headers = headers_for(serial, timestamp, nonce, signature)
    core = clients[index]._core
    assert core._verify_signature(headers, body), name
    assert not core._verify_signature(headers, body + " "), name
    return {
        "name": name,
        "serial": serial,
        "timestamp": str(timestamp),
        "nonce": nonce,
        "body": body,
        "message": message,
        "signature": signature,
        "headers": headers,
        "produced_by": "message by the script; signature by SDK rsa_sign; accepted by SDK "
        "Core._verify_signature (and a one-byte body change refused)",
    }


def without(value, key):
    """A refund that did not succeed has no success_time (absent, not null)."""
    value = dict(value)
    value.pop(key)
    return value


def compact(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def notification_vector(name, clients, platform_keys, index, timestamp, nonce, envelope, plain, gcm_nonce, aad):
    plaintext = compact(plain)
    sealed = AESGCM(APIV3_KEY.encode()).encrypt(gcm_nonce.encode(), plaintext.encode(), aad.encode())
    ciphertext = base64.b64encode(sealed).decode()
    envelope = dict(envelope)
    envelope["resource"] = {
        "original_type": envelope.pop("original_type"),
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": ciphertext,
        "associated_data": aad,
        "nonce": gcm_nonce,
    }
    body = compact(envelope)
    message, signature = signed(platform_keys[index], timestamp, nonce, body)
    headers = headers_for(PLATFORM_SERIALS[index], timestamp, nonce, signature)
    assert sdk_utils.aes_decrypt(gcm_nonce, ciphertext, aad, APIV3_KEY) == plaintext, name
    result = clients[index].callback(headers, body)
    assert result is not None, name
    assert result["resource"] == plain, name
    assert clients[index].callback(headers, body.replace('"id":"', '"id":"X', 1)) is None, name
    return {
        "name": name,
        "headers": headers,
        "body": body,
        "message": message,
        "resource_plaintext": plaintext,
        "produced_by": "resource encrypted by the script with cryptography AESGCM (fixed nonce); "
        "body signed with SDK rsa_sign; SDK WeChatPay.callback verified it and decrypted the "
        "resource to exactly resource_plaintext (and refused a copy with the id changed)",
    }


def main():
    merchant = new_key()
    platforms = [new_key(), new_key()]
    merchant_pem = pem_pkcs8(merchant)
    clients = [client(merchant_pem, PLATFORM_SERIALS[i], platforms[i]) for i in range(2)]

    ts = 1767225600  # 2026-01-01T00:00:00Z; the Rust tests pass their clock explicitly.
    requests_ = [
        request_vector("get_with_query", merchant, "GET",
                       "/v3/pay/transactions/out-trade-no/pg-20260101-0001?mchid=" + MCHID, "",
                       ts, "593BEC0C930BF1AFEB40B4A08C8FB242"),
        request_vector("post_json_non_ascii", merchant, "POST", "/v3/pay/transactions/native",
                       compact({"appid": APPID, "mchid": MCHID, "description": "测试商品",
                                "out_trade_no": "pg-20260101-0001",
                                "notify_url": "https://paygate.example/notify/wechatpay",
                                "amount": {"total": 1, "currency": "CNY"}}),
                       ts + 1, "B3F2C1D0E9A8B7C6D5E4F3A2B1C0D9E8"),
        request_vector("post_empty_body", merchant, "POST",
                       "/v3/pay/transactions/out-trade-no/pg-20260101-0001/close", "",
                       ts + 2, "0123456789ABCDEF0123456789ABCDEF"),
        request_vector("get_no_query", merchant, "GET", "/v3/certificates", "",
                       ts + 3, "C5AC7061FCCAB6BF3E254DCF98995B8C"),
    ]

    responses = [
        response_vector("json_body_public_key_id", clients, platforms, 0, ts + 10,
                        "c5ac7061fccab6bf3e254dcf98995b8c",
                        '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}'),
        response_vector("json_body_certificate_serial", clients, platforms, 1, ts + 11,
                        "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                        compact({"out_trade_no": "pg-20260101-0001", "trade_state": "NOTPAY",
                                 "trade_state_desc": "订单未支付", "mchid": MCHID, "appid": APPID})),
        response_vector("empty_body_204", clients, platforms, 0, ts + 12,
                        "8a8f2c1b0e7d6c5b4a392817f6e5d4c3", ""),
    ]

    transaction = {
        "mchid": MCHID, "appid": APPID, "out_trade_no": "pg-20260101-0001",
        "transaction_id": "4200002345202601015536890123", "trade_type": "NATIVE",
        "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "attach": "", "success_time": "2026-01-01T08:00:05+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 1999, "payer_total": 1899, "currency": "CNY", "payer_currency": "CNY"},
    }
    refund = {
        "mchid": MCHID, "out_trade_no": "pg-20260101-0001",
        "transaction_id": "4200002345202601015536890123", "out_refund_no": "pg-r-20260101-0001",
        "refund_id": "50300000012026010112345678901", "refund_status": "SUCCESS",
        "success_time": "2026-01-01T09:30:00+08:00", "user_received_account": "支付用户零钱",
        "amount": {"total": 1999, "refund": 500, "payer_total": 1899, "payer_refund": 500},
    }

    def envelope(nid, event, summary, original_type):
        return {"id": nid, "create_time": "2026-01-01T08:00:06+08:00", "resource_type": "encrypt-resource",
                "event_type": event, "summary": summary, "original_type": original_type}

    notifications = [
        notification_vector("transaction_success", clients, platforms, 0, ts + 20, "fdasflkja484w",
                            envelope("EV-2026010100000001", "TRANSACTION.SUCCESS", "支付成功", "transaction"),
                            transaction, "fdasflkja484", "transaction"),
        notification_vector("refund_success", clients, platforms, 1, ts + 21, "k3j4h5g6f7d8s9a0",
                            envelope("EV-2026010100000002", "REFUND.SUCCESS", "退款成功", "refund"),
                            refund, "a1b2c3d4e5f6", "refund"),
        notification_vector("refund_abnormal", clients, platforms, 0, ts + 22, "q1w2e3r4t5y6u7i8",
                            envelope("EV-2026010100000003", "REFUND.ABNORMAL", "退款异常", "refund"),
                            without(dict(refund, refund_status="ABNORMAL", out_refund_no="pg-r-20260101-0002",
                                         refund_id="50300000012026010112345678902"), "success_time"),
                            "0p9o8i7u6y5t", "refund"),
        notification_vector("refund_closed_empty_aad", clients, platforms, 1, ts + 23, "z1x2c3v4b5n6m7",
                            envelope("EV-2026010100000004", "REFUND.CLOSED", "退款关闭", "refund"),
                            dict(refund, refund_status="CLOSED", out_refund_no="pg-r-20260101-0003",
                                 refund_id="50300000012026010112345678903"),
                            "m1n2b3v4c5x6", ""),
    ]
    out = {
        "about": "WeChat Pay API v3 test vectors made with the PyPI SDK wechatpayv3 (see README.md). "
        "Every key here is a throwaway TEST-ONLY key generated by generate.py; never use it for "
        "anything else.",
        "sdk": SDK,
        "generator_deps": {"cryptography": __import__("cryptography").__version__},
        "mchid": MCHID,
        "appid": APPID,
        "merchant": {
            "serial_no": MERCHANT_SERIAL,
            "private_key_pkcs8_pem": merchant_pem,
            "private_key_pkcs1_pem": pem_pkcs1(merchant),
            "public_key_pem": pem_spki(merchant),
        },
        "platform": [
            {"serial": PLATFORM_SERIALS[i], "public_key_pem": pem_spki(platforms[i]),
             "private_key_pkcs8_pem_test_only": pem_pkcs8(platforms[i])}
            for i in range(2)
        ],
        "apiv3_key": APIV3_KEY,
        "requests": requests_,
        "responses": responses,
        "notifications": notifications,
    }
    path = os.path.join(HERE, "vectors.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print("wrote %s: %d requests, %d responses, %d notifications (SDK %s %s)" % (
        path, len(requests_), len(responses), len(notifications), SDK["package"], SDK["version"]), file=sys.stderr)


if __name__ == "__main__":
    main()
