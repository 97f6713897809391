"""Generates tests/vectors/alipay/vectors.json from the published Python SDKs (see README.md).

The SDKs only produce and check vectors here; paygate's code copies none of theirs. Every
signature below is made by an SDK's own signing function, and every "sdk_verified" result is an
SDK's own verification path run on the text that paygate's tests read.

The RSA keys are generated afresh on every run and written into the vectors file. They are
throwaway test keys: they sign nothing but these vectors.
"""

import copy
import json
import os
import sys
from importlib.metadata import version
from urllib.parse import parse_qsl, quote, urlencode

from Crypto.PublicKey import RSA

# alipay-sdk-python (Alipay's official Python SDK)
from alipay.aop.api.AlipayClientConfig import AlipayClientConfig
from alipay.aop.api.DefaultAlipayClient import DefaultAlipayClient
from alipay.aop.api.constant.CommonConstants import THREAD_LOCAL
from alipay.aop.api.request.AlipayTradePagePayRequest import AlipayTradePagePayRequest
from alipay.aop.api.request.AlipayTradeQueryRequest import AlipayTradeQueryRequest
from alipay.aop.api.util.SignatureUtils import get_sign_content, sign_with_rsa2

# python-alipay-sdk (the widely used community SDK)
from alipay import AliPay

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000002"


def keypair():
    key = RSA.generate(2048)
    return {
        "private_pkcs1_pem": key.export_key(format="PEM", pkcs=1).decode(),
        "private_pkcs8_pem": key.export_key(format="PEM", pkcs=8).decode(),
        "public_spki_pem": key.publickey().export_key(format="PEM").decode(),
    }


APP = keypair()
ALIPAY = keypair()


def official_client(private_pem, public_pem):
    config = AlipayClientConfig()
    config.app_id = APP_ID
    config.app_private_key = private_pem
    config.alipay_public_key = public_pem
    return DefaultAlipayClient(alipay_client_config=config)


# The app signs requests; "Alipay" signs responses and notifications.
APP_CLIENT = official_client(APP["private_pkcs1_pem"], ALIPAY["public_spki_pem"])
COMMUNITY = AliPay(
    appid=APP_ID,
    app_private_key_string=APP["private_pkcs1_pem"],
    alipay_public_key_string=ALIPAY["public_spki_pem"],
    sign_type="RSA2",
)


def biz(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- requests (official SDK)

def official_request(name, request, offered_empty):
    """Signs `request` (biz_content given as a dict, which the SDK serialises) through the official SDK's own request path and records what it signed.

    `offered_empty` are the parameters that were set to "" on the request object: the SDK leaves
    them out (its request classes skip empty values), and paygate's canonical string must too.
    """
    prepare = getattr(APP_CLIENT, "_DefaultAlipayClient__prepare_request_params")
    common, params = prepare(request)
    sent = dict(params)
    sent.update(common)
    sign = sent.pop("sign")
    canonical = get_sign_content(sent)
    assert sign_with_rsa2(APP["private_pkcs1_pem"], canonical, "utf-8") == sign
    offered = sorted(sent.items()) + [(k, "") for k in offered_empty] + [("sign", sign)]
    return {
        "name": name,
        "sdk": "alipay-sdk-python",
        "params": [list(p) for p in offered],
        "canonical": canonical,
        "sign": sign,
    }


def page_pay(biz_content, notify_url=None, return_url=None, terminal_type=None):
    request = AlipayTradePagePayRequest()
    request.biz_content = biz_content
    if notify_url is not None:
        request.notify_url = notify_url
    if return_url is not None:
        request.return_url = return_url
    if terminal_type is not None:
        request.terminal_type = terminal_type
    return request


def request_vectors():
    out = []
    out.append(official_request(
        "page_pay_non_ascii_subject",
        page_pay(({"out_trade_no": "pg-0001", "total_amount": "88.88", "subject": "测试商品",
                      "product_code": "FAST_INSTANT_TRADE_PAY"}),
                 notify_url="https://pay.example.com/notify/alipay"),
        []))
    out.append(official_request(
        "page_pay_empty_values_dropped",
        page_pay(({"out_trade_no": "pg-0002", "total_amount": "0.01", "subject": "x",
                      "product_code": "FAST_INSTANT_TRADE_PAY", "body": ""}),
                 notify_url="", return_url="", terminal_type=""),
        ["notify_url", "return_url", "terminal_type"]))
    out.append(official_request(
        "page_pay_reserved_characters",
        page_pay(({"out_trade_no": "pg-0003", "total_amount": "1.00",
                      "subject": "a+b & c=d e%20f %2B ?#/",
                      "product_code": "FAST_INSTANT_TRADE_PAY"}),
                 notify_url="https://pay.example.com/notify?a=1&b=2+3 x%20y",
                 return_url="https://shop.example.com/r?next=%2Forders%3Fid%3D7&x=a=b"),
        []))
    out.append(official_request(
        "page_pay_nested_biz_content",
        page_pay(({"out_trade_no": "pg-0004", "total_amount": "12.34", "subject": "嵌套",
                      "product_code": "FAST_INSTANT_TRADE_PAY",
                      "goods_detail": [{"goods_id": "g1", "goods_name": "苹果 {红}", "quantity": 2,
                                        "price": "6.17", "body": "say \"hi\" \\ back"}],
                      "extend_params": {"sys_service_provider_id": "2088511833207846"}}),
                 return_url="https://shop.example.com/done"),
        []))
    query = AlipayTradeQueryRequest()
    query.biz_content = {"out_trade_no": "pg-0005"}
    out.append(official_request("trade_query", query, []))
    return out


# ------------------------------------------------------ requests (python-alipay-sdk)

def community_request(name, method, biz_content, **kwargs):
    signed = COMMUNITY.client_api(method, biz_content=biz_content, **kwargs)
    pairs = parse_qsl(signed, keep_blank_values=True)
    sign = dict(pairs)["sign"]
    return {
        "name": name,
        "sdk": "python-alipay-sdk",
        "params": [list(p) for p in pairs],
        "sign": sign,
        "signed_query": signed,
    }


def community_vectors():
    return [
        community_request(
            "client_api_page_pay", "alipay.trade.page.pay",
            biz({"out_trade_no": "cp-0001", "total_amount": "9.90", "subject": "测试商品 +&=%",
                 "product_code": "FAST_INSTANT_TRADE_PAY"}),
            notify_url="https://pay.example.com/notify?k=v&k2=a+b",
            return_url="https://shop.example.com/r"),
        community_request(
            "client_api_precreate", "alipay.trade.precreate",
            biz({"out_trade_no": "cp-0002", "total_amount": "100.00", "subject": "二维码 {}\"\\"}),
            notify_url="https://pay.example.com/notify"),
    ]


# ------------------------------------------------------------------------ responses

def official_verifies(body):
    parse = getattr(APP_CLIENT, "_DefaultAlipayClient__parse_response")
    THREAD_LOCAL.logger = None
    THREAD_LOCAL.uuid = "vectors"
    try:
        parse(body.encode("utf-8"))
        return "verified"
    except Exception as e:  # the SDK's own refusal, recorded as such
        return "rejected: " + type(e).__name__ + ": " + str(e).split(". ")[0][:60]


def community_verifies(body, response_type):
    try:
        COMMUNITY._verify_and_return_sync_response(body, response_type)
        return "verified"
    except Exception as e:
        return "rejected: " + type(e).__name__


def response_vector(name, method, response_key, content, template, note):
    """`template` is the whole body with {C} for the signed value and {S} for the signature."""
    sign = sign_with_rsa2(ALIPAY["private_pkcs1_pem"], content, "utf-8")
    body = template.replace("{C}", content).replace("{S}", sign)
    response_type = method.replace(".", "_") + "_response"
    return {
        "name": name,
        "method": method,
        "response_key": response_key,
        "body": body,
        "signed_content": content,
        "sign": sign,
        "note": note,
        "sdk_verified": {
            "alipay-sdk-python": official_verifies(body),
            "python-alipay-sdk": community_verifies(body, response_type),
        },
    }


def response_vectors():
    q = "alipay.trade.query"
    k = "alipay_trade_query_response"
    out = []
    out.append(response_vector(
        "query_success_compact", q, k,
        '{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","buyer_pay_amount":"88.88",'
        '"out_trade_no":"pg-0001","total_amount":"88.88","trade_no":"2026120622001400001000000001",'
        '"trade_status":"TRADE_SUCCESS"}',
        '{"' + k + '":{C},"sign":"{S}"}',
        "the usual shape"))
    out.append(response_vector(
        "query_nested_objects_and_arrays", q, k,
        '{"code":"10000","msg":"Success","fund_bill_list":[{"amount":"80.00","fund_channel":"ALIPAYACCOUNT"},'
        '{"amount":"8.88","fund_channel":"COUPON","extra":{"a":{"b":[1,2,{"c":null}]}}}],'
        '"out_trade_no":"pg-0002","trade_status":"TRADE_SUCCESS","total_amount":"88.88"}',
        '{"' + k + '":{C},"sign":"{S}"}',
        "nested objects and arrays inside the signed value"))
    out.append(response_vector(
        "query_strings_with_braces_quotes_escapes", q, k,
        '{"code":"10000","msg":"Success","subject":"测试商品 }{ \\"quoted\\" \\\\ back\\/slash \\u6d4b",'
        '"body":"ends with backslash \\\\","memo":"}","out_trade_no":"pg-0003","trade_status":"WAIT_BUYER_PAY"}',
        '{"' + k + '":{C},"sign":"{S}"}',
        "braces, quotes, backslashes, \\/ and \\u escapes inside strings; raw non-ASCII"))
    out.append(response_vector(
        "query_pretty_printed", q, k,
        '{\n    "code": "10000",\n    "msg": "Success",\n    "out_trade_no": "pg-0004",\n'
        '    "trade_status": "TRADE_CLOSED"\n  }',
        '{\n  "' + k + '" : {C} ,\n  "sign" : "{S}"\n}\n',
        "whitespace and newlines between tokens: the signed text is the value only, byte for byte"))
    out.append(response_vector(
        "query_sign_first", q, k,
        '{"code":"10000","msg":"Success","out_trade_no":"pg-0005","trade_status":"TRADE_FINISHED"}',
        '{"sign":"{S}","' + k + '":{C}}',
        "the sign key before the response key (JSON objects are unordered)"))
    out.append(response_vector(
        "query_cert_sn_after_sign", q, k,
        '{"code":"10000","msg":"Success","out_trade_no":"pg-0006","trade_status":"TRADE_SUCCESS"}',
        '{"' + k + '":{C},"sign":"{S}","alipay_cert_sn":"a5b59edf65dcda9ca26e071ab6f5a0a7"}',
        "another top-level key after sign"))
    out.append(response_vector(
        "query_decoy_key_in_string_and_nested", q, k,
        '{"code":"10000","msg":"Success","out_trade_no":"pg-0007","trade_status":"TRADE_SUCCESS"}',
        '{"note":"\\"' + k + '\\":{\\"code\\":\\"40004\\"}","wrapper":{"' + k + '":{"code":"40004"}},'
        '"' + k + '":{C},"sign":"{S}"}',
        "the response key also appears inside a string and as a nested key; only the top-level one is signed"))
    out.append(response_vector(
        "query_business_failure", q, k,
        '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在",'
        '"out_trade_no":"pg-0008"}',
        '{"' + k + '":{C},"sign":"{S}"}',
        "a signed business failure"))
    out.append(response_vector(
        "gateway_error_response", q, "error_response",
        '{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}',
        '{"error_response":{C},"sign":"{S}"}',
        "a gateway error comes under error_response instead of the method's key"))
    out.append(response_vector(
        "refund_success", "alipay.trade.refund", "alipay_trade_refund_response",
        '{"code":"10000","msg":"Success","buyer_logon_id":"159****5620","fund_change":"Y",'
        '"out_trade_no":"pg-0001","refund_fee":"10.00","trade_no":"2026120622001400001000000001"}',
        '{"alipay_trade_refund_response":{C},"sign":"{S}"}',
        "another method"))
    return out


# -------------------------------------------------------------------- notifications

def notification_vector(name, params, quote_via=None, note=""):
    """Alipay signs the notification with its key; python-alipay-sdk's `verify` checks it."""
    unsigned = {k: v for k, v in params if k not in ("sign", "sign_type")}
    canonical = get_sign_content(unsigned)
    sign = sign_with_rsa2(ALIPAY["private_pkcs1_pem"], canonical, "utf-8")
    pairs = list(params) + [("sign", sign), ("sign_type", "RSA2")]
    body = urlencode(pairs, quote_via=quote_via) if quote_via else urlencode(pairs)
    # What a web framework hands the merchant: the decoded form, empty values kept.
    received = dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))
    signature = received.pop("sign")
    verified = COMMUNITY.verify(copy.deepcopy(received), signature)
    return {
        "name": name,
        "body": body,
        "canonical": canonical,
        "sign": sign,
        "note": note,
        "sdk_verified": {"python-alipay-sdk": "verified" if verified else "rejected"},
    }


def base_notification(status, **extra):
    params = [
        ("gmt_create", "2026-12-06 20:10:11"),
        ("charset", "utf-8"),
        ("seller_email", "shop@example.com"),
        ("subject", "测试商品"),
        ("buyer_id", "2088102177846880"),
        ("invoice_amount", "88.88"),
        ("notify_id", "2026120600222201012000050000000001"),
        ("fund_bill_list", '[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]'),
        ("notify_type", "trade_status_sync"),
        ("trade_status", status),
        ("receipt_amount", "88.88"),
        ("buyer_pay_amount", "88.88"),
        ("app_id", APP_ID),
        ("notify_time", "2026-12-06 20:10:12"),
        ("point_amount", "0.00"),
        ("total_amount", "88.88"),
        ("seller_id", SELLER_ID),
        ("trade_no", "2026120622001400001000000001"),
        ("auth_app_id", APP_ID),
        ("gmt_payment", "2026-12-06 20:10:12"),
        ("out_trade_no", "pg-0001"),
        ("version", "1.0"),
    ]
    d = dict(params)
    d.update(extra)
    return list(d.items())


def notification_vectors():
    out = []
    out.append(notification_vector(
        "trade_success", base_notification("TRADE_SUCCESS"), note="a paid trade"))
    out.append(notification_vector(
        "trade_success_with_empty_params",
        base_notification("TRADE_SUCCESS", body="", passback_params=""),
        note="empty parameters stay in the signed string as k="))
    out.append(notification_vector(
        "trade_success_reserved_characters",
        base_notification("TRADE_SUCCESS", subject="a+b & c=d e%20f 测试", body="x=1&y=2"),
        note="+ & = % and spaces in values; the body encodes a space as +"))
    out.append(notification_vector(
        "trade_success_percent20_spaces",
        base_notification("TRADE_SUCCESS", subject="space here", body="a b"),
        quote_via=quote, note="spaces encoded as %20 rather than +"))
    out.append(notification_vector(
        "trade_closed_full_refund",
        base_notification("TRADE_CLOSED", refund_fee="88.88", gmt_refund="2026-12-07 09:00:00.123",
                          gmt_close="2026-12-07 09:00:01", out_biz_no="rf-0001"),
        note="a full refund closes the trade"))
    out.append(notification_vector(
        "trade_success_partial_refund",
        base_notification("TRADE_SUCCESS", refund_fee="10.5", gmt_refund="2026-12-07 09:00:00",
                          out_biz_no="rf-0002"),
        note="a partial refund leaves TRADE_SUCCESS; refund_fee with one decimal"))
    out.append(notification_vector(
        "wait_buyer_pay", [p for p in base_notification("WAIT_BUYER_PAY") if p[0] not in (
            "gmt_payment", "receipt_amount", "buyer_pay_amount", "invoice_amount", "fund_bill_list",
            "point_amount")],
        note="a trade created and not yet paid"))
    out.append(notification_vector(
        "trade_finished", base_notification("TRADE_FINISHED"), note="final, no longer refundable"))
    return out


def main():
    vectors = {
        "comment": "Generated by tests/vectors/alipay/generate.py; see README.md. The keys are "
                   "throwaway TEST-ONLY keys made by that script, never used anywhere else.",
        "sdk_versions": {name: version(name) for name in (
            "alipay-sdk-python", "python-alipay-sdk", "pycryptodome", "rsa")},
        "python": sys.version.split()[0],
        "app_id": APP_ID,
        "seller_id": SELLER_ID,
        "keys": {"app": APP, "alipay": ALIPAY},
        "requests": request_vectors() + community_vectors(),
        "responses": response_vectors(),
        "notifications": notification_vectors(),
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(vectors, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
