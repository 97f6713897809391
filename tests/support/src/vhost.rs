//! A fresh RabbitMQ virtual host per test, created and deleted through the management API.

use std::time::Duration;

fn amqp_base() -> String {
    std::env::var("PAYGATE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

fn management_url() -> String {
    std::env::var("PAYGATE_TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// A vhost of its own on the test broker, with full permissions for the test user.
pub struct TestVhost {
    pub name: String,
    /// An AMQP URL that points at this vhost.
    pub amqp_url: String,
    management: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("http client")
}

/// A management URL without its credentials, and the credentials (`guest`/`guest` when it has
/// none): `http://user:pass@host:port` → (`http://host:port`, user, pass).
pub fn split_credentials(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    match rest.split_once('@') {
        Some((cred, host)) => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (format!("{scheme}://{host}"), u.to_owned(), p.to_owned())
        }
        None => (url.to_owned(), "guest".to_owned(), "guest".to_owned()),
    }
}

impl TestVhost {
    pub async fn new() -> Self {
        Self::on(&amqp_base(), &management_url()).await
    }

    /// A vhost on another broker (a private cluster's node), by its AMQP base URL (no vhost) and
    /// its management URL with credentials.
    pub async fn on(amqp_base: &str, management: &str) -> Self {
        let name = format!("paygate-test-{}", uuid::Uuid::new_v4().simple());
        let management = management.trim_end_matches('/').to_owned();
        let (base, user, pass) = split_credentials(&management);
        let http = client();
        let put = |path: String, body: serde_json::Value| {
            http.put(format!("{base}{path}")).basic_auth(&user, Some(&pass)).json(&body).send()
        };
        let created = put(format!("/api/vhosts/{name}"), serde_json::json!({}))
            .await
            .unwrap_or_else(|e| panic!("tests need the RabbitMQ management plugin at {base}: {e}"));
        assert!(created.status().is_success(), "create vhost {name}: {}", created.status());
        let perms = serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"});
        let granted = put(format!("/api/permissions/{name}/{user}"), perms).await.expect("grant permissions");
        assert!(granted.status().is_success(), "grant permissions on {name}: {}", granted.status());
        let amqp_url = format!("{}/{name}", amqp_base.trim_end_matches('/'));
        Self { name, amqp_url, management }
    }
}

impl TestVhost {
    /// Whether a queue of that name exists in this vhost.
    pub async fn queue_exists(&self, queue: &str) -> bool {
        self.queue(queue).await.is_some()
    }

    /// Imports a definitions file (`payctl topology definitions --vhost <this vhost>`) into this
    /// vhost through the management API, as an operator would.
    pub async fn import_definitions(&self, definitions: &str) {
        let (base, user, pass) = split_credentials(&self.management);
        let resp = client()
            .post(format!("{base}/api/definitions/{}", self.name))
            .basic_auth(user, Some(pass))
            .header("content-type", "application/json")
            .body(definitions.to_owned())
            .send()
            .await
            .expect("management API");
        let status = resp.status();
        assert!(
            status.is_success(),
            "import definitions: {status}: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// The management API's view of a queue (arguments, message counts, consumers), if it exists.
    pub async fn queue(&self, queue: &str) -> Option<serde_json::Value> {
        let (base, user, pass) = split_credentials(&self.management);
        let resp = client()
            .get(format!("{base}/api/queues/{}/{queue}", self.name))
            .basic_auth(user, Some(pass))
            .send()
            .await
            .expect("management API");
        if resp.status() == 404 {
            return None;
        }
        assert!(resp.status().is_success(), "GET queue {queue}: {}", resp.status());
        Some(resp.json().await.expect("queue JSON"))
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let (management, name) = (self.management.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let (base, user, pass) = split_credentials(&management);
                client()
                    .delete(format!("{base}/api/vhosts/{name}"))
                    .basic_auth(user, Some(pass))
                    .send()
                    .await
                    .ok()
            })
        });
        let _ = cleanup.join();
    }
}
