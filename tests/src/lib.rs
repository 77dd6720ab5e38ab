//! The end-to-end harness: a real server on a loopback port, over a fresh
//! database per test (SQLite, and PostgreSQL through a role that row-level
//! security binds), with the demo district and a second district, and a
//! small GraphQL client.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use shouhu::app::App;
use shouhu::AppConfig;
use shouhu_kernel::{Clock, ManualClock};
use shouhu_migrations::testing::TestDatabase;

pub use shouhu::demo::DEMO_PASSWORD;

/// The second district of every test: 虎丘区, Suzhou.
pub const OTHER_CODE: &str = "320505";
pub const OTHER_SLUG: &str = "huqiu";

/// A running server and what a test needs to talk to it.
pub struct TestServer {
    pub db: TestDatabase,
    pub base: String,
    pub app: App,
    pub clock: ManualClock,
    client: reqwest::Client,
}

/// A valid resident identity number for area 320506 (吴中区), born on
/// `birth` (`YYYY-MM-DD`), with the given sequence (odd: male).
pub fn resident_id(birth: &str, seq: u32) -> String {
    let body = format!("320506{}{seq:03}", birth.replace('-', ""));
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// The reference division files, when the shared folder is beside the
/// project.
pub fn divisions_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/divisions");
    dir.join("areas.csv").exists().then_some(dir)
}

/// An example plugin built by `plugins/examples/build.sh`: its module and its manifest.
/// `None` (with a notice) when the examples are not built here; in CI (`CI=true`), where
/// `.ci/run` builds them first, their absence fails the test instead.
pub fn example_plugin(module: &str, manifest: &str) -> Option<(Vec<u8>, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    let module_path = root.join("out").join(module);
    match std::fs::read(&module_path) {
        Ok(bytes) => {
            let manifest = std::fs::read_to_string(root.join(manifest)).expect("manifest");
            Some((bytes, manifest))
        }
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{} is missing: run plugins/examples/build.sh first",
            module_path.display()
        ),
        Err(_) => {
            eprintln!(
                "skipped: {} is not built (plugins/examples/build.sh builds it)",
                module_path.display()
            );
            None
        }
    }
}

/// A GraphQL multipart request (operations, map, files): its content type and body. Each
/// `(variable, file name, content)` goes to its variable.
pub fn multipart_body(
    query: &str,
    variables: Value,
    files: &[(&str, &str, &[u8])],
) -> (String, Vec<u8>) {
    let boundary = "shouhu-test-boundary-7d1f";
    let mut variables = variables;
    if !variables.is_object() {
        variables = json!({});
    }
    let mut map = serde_json::Map::new();
    for (i, (variable, _, _)) in files.iter().enumerate() {
        if let Some(vars) = variables.as_object_mut() {
            vars.insert((*variable).to_owned(), Value::Null);
        }
        map.insert(i.to_string(), json!([format!("variables.{variable}")]));
    }
    let operations = json!({ "query": query, "variables": variables }).to_string();
    let map = Value::Object(map).to_string();
    let mut body = Vec::new();
    for (name, value) in [("operations", operations), ("map", map)] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n\
                 {value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (i, (_, file_name, content)) in files.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{i}\"; \
                 filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A GraphQL answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The `data` of an answer that must have no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The code of the first error, or "OK" when there is none.
    pub fn code(&self) -> String {
        match self.body.get("errors").and_then(|e| e.get(0)) {
            Some(err) => err["extensions"]["code"]
                .as_str()
                .unwrap_or("NO_CODE")
                .to_owned(),
            None => "OK".into(),
        }
    }

    pub fn field(&self) -> Option<String> {
        self.body["errors"][0]["extensions"]["field"]
            .as_str()
            .map(str::to_owned)
    }
}

impl TestServer {
    /// Starts a server on each backend in turn.
    pub async fn all() -> Vec<TestServer> {
        let mut out = Vec::new();
        for db in TestDatabase::all().await {
            out.push(TestServer::start(db).await);
        }
        out
    }

    pub async fn start(db: TestDatabase) -> TestServer {
        // `SHOUHU_TEST_LOG=info cargo test …` shows the server's log lines.
        if let Ok(filter) = std::env::var("SHOUHU_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let clock = ManualClock::new(1_800_000_000_000);
        let mut config = AppConfig::new(db.url.clone());
        config.migrate_url = None;
        config.max_connections = 8;
        config.divisions = divisions_dir();
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let app = App::start(&config, shared).await.expect("start app");
        shouhu::demo::ensure(&app.services)
            .await
            .expect("demo district");
        let acceptor = {
            use poem::listener::Listener;
            poem::listener::TcpListener::bind("127.0.0.1:0")
                .into_acceptor()
                .await
                .expect("bind")
        };
        let addr = {
            use poem::listener::Acceptor;
            acceptor.local_addr()[0]
                .as_socket_addr()
                .copied()
                .expect("socket address")
        };
        let routes = shouhu::http::routes(app.clone());
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(routes).await;
        });
        let server = TestServer {
            db,
            base: format!("http://{addr}"),
            app,
            clock,
            client: reqwest::Client::new(),
        };
        server.onboard_other().await;
        server
    }

    pub fn kind(&self) -> &'static str {
        self.db.kind
    }

    /// Onboards 虎丘区 through the API as the platform operator, with its
    /// first admin and a street officer.
    async fn onboard_other(&self) {
        let op = self.login("platform", "operator").await;
        let name = if divisions_dir().is_some() {
            Value::Null
        } else {
            json!("虎丘区")
        };
        let answer = self
            .gql(
                Some(&op),
                "mutation($input: CreateTenantInput!) { createTenant(input: $input) { id } }",
                json!({ "input": {
                    "code": OTHER_CODE,
                    "slug": OTHER_SLUG,
                    "name": name,
                    "admin": { "username": "admin", "displayName": "虎丘管理员",
                               "password": DEMO_PASSWORD }
                }}),
            )
            .await;
        answer.data();
        let admin = self.login(OTHER_SLUG, "admin").await;
        let unit = self
            .gql(
                Some(&admin),
                "{ orgUnits(first: 1) { edges { node { id } } } }",
                json!({}),
            )
            .await;
        let root = unit.data()["orgUnits"]["edges"][0]["node"]["id"].clone();
        self.gql(
            Some(&admin),
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({ "input": { "username": "officer", "displayName": "虎丘干部",
                    "password": DEMO_PASSWORD, "orgUnitId": root,
                    "roles": ["street_officer"] } }),
        )
        .await
        .data();
    }

    /// Sends one GraphQL request over POST.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        self.post_raw(
            token,
            &json!({ "query": query, "variables": variables }).to_string(),
        )
        .await
    }

    pub async fn post_raw(&self, token: Option<&str>, body: &str) -> Answer {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Sends one operation with one file, in the GraphQL multipart request format: the file
    /// goes to the variable `file_variable`.
    pub async fn upload(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        file_variable: &str,
        file_name: &str,
        content: &[u8],
    ) -> Answer {
        self.upload_files(
            token,
            query,
            variables,
            &[(file_variable, file_name, content)],
        )
        .await
    }

    /// Sends one operation with files, in the GraphQL multipart request format: each
    /// `(variable, file name, content)` goes to its variable.
    pub async fn upload_files(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        files: &[(&str, &str, &[u8])],
    ) -> Answer {
        let (content_type, body) = multipart_body(query, variables, files);
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    /// Uploads a plugin version (module and manifest) as `token`; the answer holds
    /// `uploadPlugin { id pluginId version }`.
    pub async fn upload_plugin(&self, token: &str, module: &[u8], manifest: &str) -> Answer {
        self.upload_files(
            Some(token),
            "mutation($module: Upload!, $manifest: Upload!) { \
             uploadPlugin(module: $module, manifest: $manifest) { id pluginId version sha256 } }",
            json!({}),
            &[
                ("module", "plugin.wasm", module),
                ("manifest", "plugin.toml", manifest.as_bytes()),
            ],
        )
        .await
    }

    /// Uploads and activates a plugin version; returns (plugin id, version id).
    pub async fn install_plugin(
        &self,
        token: &str,
        module: &[u8],
        manifest: &str,
    ) -> (String, String) {
        let uploaded = self.upload_plugin(token, module, manifest).await;
        let uploaded = uploaded.data()["uploadPlugin"].clone();
        let plugin = uploaded["pluginId"].as_str().expect("plugin id").to_owned();
        let version = uploaded["id"].as_str().expect("version id").to_owned();
        let activated = self
            .gql(
                Some(token),
                "mutation($v: ID!) { activatePluginVersion(versionId: $v) { id } }",
                json!({ "v": version }),
            )
            .await;
        activated.data();
        (plugin, version)
    }

    pub async fn get(&self, path_and_query: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path_and_query}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// Signs in with the demo password and returns the token.
    pub async fn login(&self, tenant: &str, username: &str) -> String {
        self.try_login(tenant, username, DEMO_PASSWORD)
            .await
            .unwrap_or_else(|a| panic!("login {tenant}/{username}: {}", a.body))
    }

    pub async fn try_login(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> Result<String, Answer> {
        let a = self
            .gql(
                None,
                "mutation($t: String!, $u: String!, $p: String!) \
                 { login(tenant: $t, username: $u, password: $p) { token } }",
                json!({ "t": tenant, "u": username, "p": password }),
            )
            .await;
        match a.body["data"]["login"]["token"].as_str() {
            Some(t) => Ok(t.to_owned()),
            None => Err(a),
        }
    }

    /// The id of a district by slug.
    pub async fn tenant_id(&self, slug: &str) -> shouhu_kernel::TenantId {
        let tenant = self.app.services.tenancy.tenant_by_slug(slug).await;
        shouhu_kernel::TenantId(tenant.expect("tenant lookup").expect("a tenant").id)
    }

    /// Adds `minors` generated (seeded, valid) minors to a district.
    pub async fn populate(&self, slug: &str, minors: u64, seed: u64) {
        let tenant = self.tenant_id(slug).await;
        shouhu::generate::populate(&self.app.services, tenant, minors, seed)
            .await
            .expect("generated minors");
    }

    /// The id of an org unit by code, as the demo admin sees it.
    pub async fn unit_id(&self, tenant: &str, code: &str) -> String {
        let admin = self.login(tenant, "admin").await;
        let mut after: Option<String> = None;
        loop {
            let a = self
                .gql(
                    Some(&admin),
                    "query($after: String) { orgUnits(first: 200, after: $after) { \
                     edges { cursor node { id code } } pageInfo { hasNextPage } } }",
                    json!({ "after": after }),
                )
                .await;
            let data = a.data();
            for edge in data["orgUnits"]["edges"].as_array().expect("edges") {
                if edge["node"]["code"] == code {
                    return edge["node"]["id"].as_str().expect("id").to_owned();
                }
                after = edge["cursor"].as_str().map(str::to_owned);
            }
            if data["orgUnits"]["pageInfo"]["hasNextPage"] != true {
                panic!("no unit {code} in {tenant}");
            }
        }
    }
}
