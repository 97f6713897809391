//! What a pass asked of its providers, read from the pass's own database once it is driven: the
//! provider calls (the exchange log, one row a call) by provider and operation, and the
//! notifications received, each per payment. A provider's cost per payment is mostly its calls'
//! (each Alipay or WeChat Pay call is an RSA signature on each side), so this line tells a flow
//! that makes more calls from one whose calls cost more.

use sqlx::PgPool;

/// Calls of one operation to one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calls {
    pub provider: String,
    pub operation: String,
    pub count: i64,
}

/// A pass's calls and notifications.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    pub calls: Vec<Calls>,
    pub notifications: i64,
}

impl Asked {
    /// Reads them from the pass's database.
    pub async fn read(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT provider, operation, count(*) FROM provider_exchanges
             GROUP BY provider, operation ORDER BY provider, operation",
        )
        .fetch_all(pool)
        .await?;
        let calls = rows
            .into_iter()
            .map(|(provider, operation, count)| Calls { provider, operation, count })
            .collect();
        let notifications: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications").fetch_one(pool).await?;
        Ok(Asked { calls, notifications })
    }

    /// One line for the report: `provider calls per payment: alipay pay 1.00, alipay refund 0.10
    /// (1.10 in all); notifications per payment 0.00`, over `payments`.
    pub fn line(&self, payments: u64) -> String {
        let per = |n: i64| per_payment(n, payments);
        let each: Vec<String> =
            self.calls.iter().map(|c| format!("{} {} {}", c.provider, c.operation, per(c.count))).collect();
        let all: i64 = self.calls.iter().map(|c| c.count).sum();
        format!(
            "provider calls per payment: {} ({} in all); notifications per payment {}",
            if each.is_empty() { "none".to_owned() } else { each.join(", ") },
            per(all),
            per(self.notifications)
        )
    }
}

/// `n / payments` with two decimals, in integers (no float in a figure that is printed).
fn per_payment(n: i64, payments: u64) -> String {
    let payments = i64::try_from(payments.max(1)).unwrap_or(i64::MAX);
    let hundredths = (n.max(0) * 100 + payments / 2) / payments;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_operation_and_all_per_payment_rounded_to_hundredths() {
        let asked = Asked {
            calls: vec![
                Calls { provider: "wechatpay".into(), operation: "pay".into(), count: 3000 },
                Calls { provider: "wechatpay".into(), operation: "query".into(), count: 4321 },
            ],
            notifications: 2999,
        };
        assert_eq!(
            asked.line(3000),
            "provider calls per payment: wechatpay pay 1.00, wechatpay query 1.44 (2.44 in all); \
             notifications per payment 1.00"
        );
        assert_eq!(
            Asked::default().line(0),
            "provider calls per payment: none (0.00 in all); notifications per payment 0.00"
        );
    }
}
