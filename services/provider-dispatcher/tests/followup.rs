//! Follow-up queries climb the retry ladder in the caller's transaction, and an exhausted ladder
//! puts the order in front of a person.

use paygate::broker::envelope::Envelope;
use paygate::broker::topology::{Topology, TopologyConfig};
use paygate::domain::{Currency, Money};
use paygate::messages::orders::{OrderWork, QueryReason};
use paygate::store::payments::{self, Created, NewPayment};
use paygate_test_support::TestDb;
use provider_dispatcher::followup::{FollowUp, schedule_query};
use serde_json::json;
use uuid::Uuid;

async fn payment(db: &TestDb) -> Uuid {
    let new = NewPayment {
        capture_mode: Default::default(),
        id: Uuid::now_v7(),
        merchant_id: "m-1".parse().unwrap(),
        merchant_order_no: "o-1".into(),
        provider: "mockpay".parse().unwrap(),
        pay_method: "qr".parse().unwrap(),
        order_type: "retail".into(),
        amount: Money::from_minor(100, Currency::CNY).unwrap(),
        subject: "Tea".into(),
        return_url: None,
        expires_at: None,
        metadata: json!({}),
        request_fingerprint: "fp".into(),
        reply_to: None,
        correlation_id: None,
        auth_code: None,
        payer: None,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let Created::New(p) = payments::create(&mut conn, &new, None).await.unwrap() else { panic!() };
    p.id
}

#[tokio::test]
async fn queries_climb_the_ladder_then_need_a_person() {
    let db = TestDb::new().await;
    paygate::db::migrate(&db.pool).await.unwrap();
    let topology = Topology::new(TopologyConfig::default()).unwrap();
    let id = payment(&db).await;
    let cause = Envelope::new("order.dispatch_pay", id.to_string(), json!({}));
    let tiers: Vec<String> = topology.config().retry_tiers.iter().map(|t| t.name.clone()).collect();

    for (i, tier) in tiers.iter().enumerate() {
        let attempt = u32::try_from(i + 1).unwrap();
        let mut tx = db.pool.begin().await.unwrap();
        let done =
            schedule_query(&mut tx, &topology, id, None, QueryReason::OutcomeUnknown, attempt, &cause).await;
        tx.commit().await.unwrap();
        assert_eq!(done.unwrap(), FollowUp::Scheduled { tier: tier.clone(), attempt });
        let (exchange, key, envelope): (String, String, serde_json::Value) =
            sqlx::query_as("SELECT exchange, routing_key, envelope FROM outbox ORDER BY id DESC LIMIT 1")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!((exchange.as_str(), key.as_str()), ("paygate.retry", tier.as_str()));
        let envelope: Envelope<OrderWork> = serde_json::from_value(envelope).unwrap();
        assert_eq!(envelope.attempt, attempt);
        assert_eq!(envelope.order_key, id.to_string(), "it must come back to the order's shard");
        assert!(matches!(envelope.payload, OrderWork::Query { payment_id, .. } if payment_id == id));
        let (check_attempt, due): (i32, bool) =
            sqlx::query_as("SELECT check_attempt, next_check_at > now() FROM payments WHERE id = $1")
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!((check_attempt, due), (i32::try_from(attempt).unwrap(), true));
    }

    let past = u32::try_from(tiers.len() + 1).unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    let done = schedule_query(&mut tx, &topology, id, None, QueryReason::OutcomeUnknown, past, &cause).await;
    tx.commit().await.unwrap();
    assert_eq!(done.unwrap(), FollowUp::NeedsAttention { attempts: past - 1 });
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM attention WHERE payment_id = $1 AND kind = 'unresolved_after_last_retry' AND resolved_at IS NULL",
    )
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(open, 1);
}
