//! An HTTP proxy between the AWS SDK and a moto server.
//!
//! moto answers the EC2 and IAM Query APIs well enough for our code, but it returns every
//! item of a list action in one response, cannot be told to throttle, deny or lose a
//! region, and lacks IAM's service-specific credentials. The code under test must cope
//! with all of that on real AWS, so the proxy adds it: it pages DescribeVolumes /
//! DescribeSnapshots / DescribeImages and IAM's GetAccountAuthorizationDetails / ListUsers
//! the way AWS does, injects faults on demand (including snapshots that take time to
//! complete, as EBS snapshots do), serves service-specific credentials from memory, and
//! records every request so tests and benchmarks can see how many calls were made and
//! when.
//!
//! Usable from tests (`support::aws_proxy`) and from benchmarks via `#[path]`, so it
//! only uses the crate's normal dependencies.

#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// AWS rejects a MaxResults above this for the paged EC2 actions.
const MAX_RESULTS_CAP: usize = 1000;
/// AWS rejects a MaxResults below this for the paged EC2 actions.
const MAX_RESULTS_MIN: usize = 5;
/// AWS rejects a MaxItems outside `IAM_MAX_ITEMS_MIN..=IAM_MAX_ITEMS_CAP`.
const IAM_MAX_ITEMS_MIN: usize = 1;
const IAM_MAX_ITEMS_CAP: usize = 1000;
/// IAM pages even when MaxItems is absent, at this size.
const IAM_MAX_ITEMS_DEFAULT: usize = 100;
/// The `Version` every IAM Query request carries.
const IAM_VERSION: &str = "2010-05-08";
const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// The account moto (and so every ARN the tests see) uses.
const ACCOUNT_ID: &str = "123456789012";
/// Prefix of the proxy's own continuation tokens; the rest is the offset of the next item.
const TOKEN_PREFIX: &str = "p-";

/// A list action the proxy pages: the XML element holding the items, and the items' tag.
#[derive(Debug, PartialEq)]
struct PagedList {
    action: &'static str,
    list: &'static str,
    item: &'static str,
}

const EC2_PAGED_LISTS: [PagedList; 3] = [
    PagedList {
        action: "DescribeVolumes",
        list: "volumeSet",
        item: "item",
    },
    PagedList {
        action: "DescribeSnapshots",
        list: "snapshotSet",
        item: "item",
    },
    PagedList {
        action: "DescribeImages",
        list: "imagesSet",
        item: "item",
    },
];

/// Only the user list is paged; other lists of GetAccountAuthorizationDetails come whole
/// on every page, which is fine for callers that filter on `User`.
const IAM_PAGED_LISTS: [PagedList; 2] = [
    PagedList {
        action: "GetAccountAuthorizationDetails",
        list: "UserDetailList",
        item: "member",
    },
    PagedList {
        action: "ListUsers",
        list: "Users",
        item: "member",
    },
];

/// Which Query API a request speaks; it decides the paging parameters and error shape.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Ec2,
    Iam,
}

impl Api {
    /// IAM when the form says IAM's `Version` or the request is signed for `iam`.
    fn of(params: Option<&[(String, String)]>, headers: &HeaderMap) -> Self {
        let version = params.and_then(|p| param(p, "Version"));
        if version == Some(IAM_VERSION) || signed_service(headers).as_deref() == Some("iam") {
            Api::Iam
        } else {
            Api::Ec2
        }
    }

    /// The page size and continuation token parameters.
    fn paging_params(self) -> (&'static str, &'static str) {
        match self {
            Api::Ec2 => ("MaxResults", "NextToken"),
            Api::Iam => ("MaxItems", "Marker"),
        }
    }

    /// The code AWS answers a bad paging parameter with.
    fn invalid_parameter_code(self) -> &'static str {
        match self {
            Api::Ec2 => "InvalidParameterValue",
            Api::Iam => "ValidationError",
        }
    }

    /// The code and message AWS throttles with; the SDK retries both codes with backoff.
    fn throttling(self) -> (&'static str, &'static str) {
        match self {
            Api::Ec2 => ("RequestLimitExceeded", "Request limit exceeded."),
            Api::Iam => ("Throttling", "Rate exceeded"),
        }
    }

    /// An error in this API's shape, which the SDK parses into a code.
    fn error(self, status: StatusCode, code: &str, message: &str) -> Response {
        match self {
            Api::Ec2 => ec2_error(status, code, message),
            Api::Iam => iam_error(status, code, message),
        }
    }
}

/// One request the proxy received, as the SDK sent it, and how the proxy answered.
#[derive(Clone, Debug)]
pub struct ProxyCall {
    /// The Query API `Action`; empty when the body was not a form.
    pub action: String,
    /// The region the request was signed for; empty when unsigned.
    pub region: String,
    /// The form parameters as received (before the proxy strips paging parameters).
    pub params: Vec<(String, String)>,
    pub started: Instant,
    pub finished: Instant,
    /// The HTTP status the proxy answered with.
    pub status: u16,
}

impl ProxyCall {
    /// The first value of one form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// An error every request for one action gets until cleared.
#[derive(Clone)]
struct ActionFault {
    status: StatusCode,
    code: String,
    message: String,
}

/// One IAM service-specific credential (moto does not implement them).
#[derive(Clone)]
struct ServiceCredential {
    user: String,
    service: String,
    id: String,
}

/// A snapshot the proxy reports as still being taken.
#[derive(Clone, Copy)]
struct PendingSnapshot {
    created: Instant,
    /// How long after `created` it stays pending.
    lasts: Duration,
}

impl PendingSnapshot {
    /// Its progress in percent (below 100) while pending, `None` once complete.
    fn progress(self, now: Instant) -> Option<u32> {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed >= self.lasts {
            return None;
        }
        let percent = elapsed.as_secs_f64() / self.lasts.as_secs_f64() * 100.0;
        Some((percent as u32).min(99))
    }
}

/// Faults to inject, served state and the request log, shared by the handle and the
/// server task.
#[derive(Default)]
struct ProxyState {
    failed_regions: HashSet<String>,
    /// How long snapshots created from now on stay pending; `None`: as moto says.
    pend_snapshots_for: Option<Duration>,
    /// Snapshot id → its pending period, for the snapshots created while pending was on.
    pending_snapshots: HashMap<String, PendingSnapshot>,
    /// Every CreateSnapshot that went through: (volume id, snapshot id), oldest first.
    snapshots_created: Vec<(String, String)>,
    /// Action → how many more requests to throttle.
    throttles: HashMap<String, usize>,
    /// Action → the error it answers with until cleared.
    action_faults: HashMap<String, ActionFault>,
    service_credentials: Vec<ServiceCredential>,
    /// Region → its own upstream, like AWS's independent regional endpoints.
    routes: HashMap<String, String>,
    /// Actions whose requests wait (unanswered) until released.
    held: HashSet<String>,
    /// Action → the one request (0-based, by arrival) that waits until released.
    held_nth: HashMap<String, usize>,
    /// Action → requests received.
    arrived: HashMap<String, usize>,
    calls: Vec<ProxyCall>,
}

/// Handle to a running proxy. Cheap to clone; all clones share faults and the log.
#[derive(Clone)]
pub struct AwsProxy {
    /// Base URL to use as the SDK's `endpoint_url`, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    state: Arc<Mutex<ProxyState>>,
    released: Arc<Notify>,
}

impl AwsProxy {
    /// Serves on a free loopback port and forwards to `upstream` (moto's base URL).
    /// The server lives as long as the current Tokio runtime.
    pub async fn start(upstream: &str) -> Self {
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let released = Arc::new(Notify::new());
        let shared = Shared {
            released: released.clone(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                // Loopback traffic must never go through a proxy from the environment.
                .no_proxy()
                .build()
                .expect("building the proxy's HTTP client"),
            state: state.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the AWS proxy to a loopback port");
        let addr = listener.local_addr().expect("the proxy's local address");
        let app = Router::new()
            .fallback(handle)
            // DescribeImages with many filters can be large; moto decides, not the proxy.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint: format!("http://{addr}"),
            state,
            released,
        }
    }

    /// Makes every request for `action` wait, unanswered, until [`Self::release`]:
    /// a call that hangs, as a slow AWS endpoint's does.
    pub fn hold(&self, action: &str) {
        lock(&self.state).held.insert(action.to_owned());
    }

    /// Makes only the `nth` request for `action` (0-based, by arrival) wait,
    /// unanswered, until [`Self::release`]; the others go through. A caller that
    /// dies meanwhile leaves that one call never made.
    pub fn hold_nth(&self, action: &str, nth: usize) {
        lock(&self.state).held_nth.insert(action.to_owned(), nth);
    }

    /// Lets the held requests for `action` (and later ones) through.
    pub fn release(&self, action: &str) {
        let mut state = lock(&self.state);
        state.held.remove(action);
        state.held_nth.remove(action);
        drop(state);
        self.released.notify_waiters();
    }

    /// How many requests for `action` reached the proxy so far (held ones included).
    pub fn arrived(&self, action: &str) -> usize {
        lock(&self.state).arrived.get(action).copied().unwrap_or(0)
    }

    /// Makes the region look unreachable: every request signed for it gets a 503
    /// `Unavailable`, which the SDK retries and then reports as an error.
    pub fn fail_region(&self, region: &str) {
        lock(&self.state).failed_regions.insert(region.to_owned());
    }

    /// Sends the requests signed for `region` to their own upstream (another moto), so
    /// regions do not queue behind one another in one moto process.
    pub fn route_region(&self, region: &str, upstream: &str) {
        lock(&self.state)
            .routes
            .insert(region.to_owned(), upstream.trim_end_matches('/').to_owned());
    }

    /// Throttles the next `n` requests for `action` with a 503 `RequestLimitExceeded`
    /// (IAM: `Throttling`), which the SDK classifies as throttling and retries with backoff.
    pub fn throttle_next(&self, action: &str, n: usize) {
        lock(&self.state).throttles.insert(action.to_owned(), n);
    }

    /// Answers every request for `action` with this error (in the request's API shape)
    /// until [`Self::clear_fault`], e.g. a 403 `AccessDenied`, which the SDK does not retry.
    pub fn fail_action(&self, action: &str, status: u16, code: &str, message: &str) {
        let status = StatusCode::from_u16(status).expect("an HTTP status code");
        lock(&self.state).action_faults.insert(
            action.to_owned(),
            ActionFault {
                status,
                code: code.to_owned(),
                message: message.to_owned(),
            },
        );
    }

    /// Lets `action` through to moto again.
    pub fn clear_fault(&self, action: &str) {
        lock(&self.state).action_faults.remove(action);
    }

    /// Makes every snapshot created through the proxy from now on take `for_how_long`
    /// to complete, as EBS snapshots do on AWS (moto completes them at once): until
    /// then, DescribeSnapshots (and CreateSnapshot's own answer) report it `pending`
    /// with a `progress` below 100%; afterwards moto's answer passes through. Snapshots
    /// created earlier keep their own period. `Duration::ZERO` turns it off for the
    /// snapshots created afterwards.
    pub fn pend_new_snapshots(&self, for_how_long: Duration) {
        lock(&self.state).pend_snapshots_for = Some(for_how_long).filter(|d| !d.is_zero());
    }

    /// Every CreateSnapshot that went through, oldest first, as (volume id, snapshot
    /// id): a volume listed twice got a second snapshot.
    pub fn snapshots_created(&self) -> Vec<(String, String)> {
        lock(&self.state).snapshots_created.clone()
    }

    /// Gives `user` an active service-specific credential for `service` (e.g.
    /// `codecommit.amazonaws.com`) and returns its id.
    pub fn add_service_specific_credential(&self, user: &str, service: &str) -> String {
        let mut state = lock(&self.state);
        let id = loop {
            let id = credential_id();
            if !state.service_credentials.iter().any(|c| c.id == id) {
                break id;
            }
        };
        state.service_credentials.push(ServiceCredential {
            user: user.to_owned(),
            service: service.to_owned(),
            id: id.clone(),
        });
        id
    }

    /// Ids of the service-specific credentials `user` still has, oldest first.
    pub fn service_specific_credentials(&self, user: &str) -> Vec<String> {
        lock(&self.state)
            .service_credentials
            .iter()
            .filter(|c| c.user == user)
            .map(|c| c.id.clone())
            .collect()
    }

    /// Every request received so far, oldest first.
    pub fn calls(&self) -> Vec<ProxyCall> {
        lock(&self.state).calls.clone()
    }

    /// The requests for one action, oldest first.
    pub fn calls_to(&self, action: &str) -> Vec<ProxyCall> {
        lock(&self.state)
            .calls
            .iter()
            .filter(|c| c.action == action)
            .cloned()
            .collect()
    }

    /// Forgets the recorded requests and the [`Self::snapshots_created`] log (e.g. after
    /// test setup), keeping the faults, including the snapshots still pending.
    pub fn clear_calls(&self) {
        let mut state = lock(&self.state);
        state.calls.clear();
        state.snapshots_created.clear();
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock(state: &Mutex<ProxyState>) -> MutexGuard<'_, ProxyState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the server task needs: where to forward, and the shared state.
#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    state: Arc<Mutex<ProxyState>>,
    released: Arc<Notify>,
}

/// A request as received, kept whole so it can be forwarded unchanged.
struct Incoming {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// moto's answer, buffered so a page can be cut out of it.
struct Upstream {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

/// Every request lands here: inject a fault, page, or pass through; then record it.
async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let params = parse_form(&body);
    let action = params
        .as_deref()
        .and_then(|p| param(p, "Action"))
        .unwrap_or_default()
        .to_owned();
    let region = signed_region(&headers).unwrap_or_default();
    let api = Api::of(params.as_deref(), &headers);
    let incoming = Incoming {
        method,
        uri,
        headers,
        body,
    };
    shared.wait_while_held(&action).await;
    let response = if let Some(fault) = shared.injected_fault(api, &action, &region) {
        fault
    } else if let Some(local) = shared.answer_locally(api, &action, params.as_deref()) {
        local
    } else {
        shared.answer(api, &incoming, params.as_deref()).await
    };
    shared.record(ProxyCall {
        action,
        region,
        params: params.unwrap_or_default(),
        started,
        finished: Instant::now(),
        status: response.status().as_u16(),
    });
    response
}

impl Shared {
    /// Counts the request, then waits while its action is held.
    async fn wait_while_held(&self, action: &str) {
        let index = {
            let mut state = lock(&self.state);
            let arrived = state.arrived.entry(action.to_owned()).or_default();
            *arrived += 1;
            *arrived - 1
        };
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let state = lock(&self.state);
                if !state.held.contains(action) && state.held_nth.get(action) != Some(&index) {
                    return;
                }
            }
            released.await;
        }
    }

    /// The error a configured fault calls for, if any. A failed region wins over an
    /// action fault, which wins over throttling; the throttle count is only used up by
    /// requests it actually throttles.
    fn injected_fault(&self, api: Api, action: &str, region: &str) -> Option<Response> {
        let mut state = lock(&self.state);
        if state.failed_regions.contains(region) {
            let message = format!("The service is unavailable in {region}.");
            return Some(api.error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", &message));
        }
        if let Some(fault) = state.action_faults.get(action) {
            return Some(api.error(fault.status, &fault.code, &fault.message));
        }
        if let Some(left) = state.throttles.get_mut(action)
            && *left > 0
        {
            *left -= 1;
            let (code, message) = api.throttling();
            return Some(api.error(StatusCode::SERVICE_UNAVAILABLE, code, message));
        }
        None
    }

    /// Answers the IAM actions moto lacks from the proxy's own state; `None` for the rest.
    fn answer_locally(
        &self,
        api: Api,
        action: &str,
        params: Option<&[(String, String)]>,
    ) -> Option<Response> {
        if api != Api::Iam {
            return None;
        }
        let params = params.unwrap_or_default();
        match action {
            "ListServiceSpecificCredentials" => Some(self.list_service_credentials(params)),
            "DeleteServiceSpecificCredential" => Some(self.delete_service_credential(params)),
            _ => None,
        }
    }

    /// Without `UserName` AWS lists the caller's own credentials; the proxy's caller has
    /// none.
    fn list_service_credentials(&self, params: &[(String, String)]) -> Response {
        let user = param(params, "UserName");
        let service = param(params, "ServiceName");
        let members: String = lock(&self.state)
            .service_credentials
            .iter()
            .filter(|c| Some(c.user.as_str()) == user)
            .filter(|c| service.is_none_or(|s| s == c.service))
            .map(credential_member)
            .collect();
        iam_ok(
            "ListServiceSpecificCredentials",
            &format!(
                "<ListServiceSpecificCredentialsResult><ServiceSpecificCredentials>{members}\
                 </ServiceSpecificCredentials></ListServiceSpecificCredentialsResult>"
            ),
        )
    }

    fn delete_service_credential(&self, params: &[(String, String)]) -> Response {
        let user = param(params, "UserName");
        let id = param(params, "ServiceSpecificCredentialId").unwrap_or_default();
        let mut state = lock(&self.state);
        let found = state
            .service_credentials
            .iter()
            .position(|c| c.id == id && user.is_none_or(|u| u == c.user));
        match found {
            Some(index) => {
                state.service_credentials.remove(index);
                iam_ok("DeleteServiceSpecificCredential", "")
            }
            None => iam_error(
                StatusCode::NOT_FOUND,
                "NoSuchEntity",
                &format!("The Service Specific Credential with id {id} cannot be found."),
            ),
        }
    }

    /// Pages the paged actions when asked to and keeps snapshots pending; everything
    /// else goes to moto unchanged.
    async fn answer(
        &self,
        api: Api,
        incoming: &Incoming,
        params: Option<&[(String, String)]>,
    ) -> Response {
        let action = params.and_then(|p| param(p, "Action")).unwrap_or_default();
        let upstream = match params.and_then(|p| page_request(api, action, p)) {
            None => self.forward(incoming, incoming.body.clone()).await,
            Some(Err(message)) => {
                return api.error(
                    StatusCode::BAD_REQUEST,
                    api.invalid_parameter_code(),
                    &message,
                );
            }
            Some(Ok(page)) => {
                self.answer_page(incoming, params.unwrap_or_default(), &page)
                    .await
            }
        };
        match upstream {
            Ok(mut upstream) => {
                if api == Api::Ec2 {
                    self.track_snapshots(action, params.unwrap_or_default(), &mut upstream);
                }
                upstream.into_response()
            }
            Err(e) => unreachable_upstream(api, &e),
        }
    }

    /// Records a snapshot moto created and, while [`AwsProxy::pend_new_snapshots`] is
    /// on, reports it pending; reports the snapshots still pending so in
    /// DescribeSnapshots.
    fn track_snapshots(&self, action: &str, params: &[(String, String)], upstream: &mut Upstream) {
        if !upstream.status.is_success() {
            return;
        }
        let Ok(xml) = std::str::from_utf8(&upstream.body) else {
            return;
        };
        let now = Instant::now();
        let rewritten = match action {
            "CreateSnapshot" => self.snapshot_created(params, xml, now),
            "DescribeSnapshots" => {
                let state = lock(&self.state);
                if state.pending_snapshots.is_empty() {
                    None
                } else {
                    pend_snapshot_items(xml, |id| state.pending_snapshots.get(id)?.progress(now))
                }
            }
            _ => None,
        };
        if let Some(xml) = rewritten {
            upstream.body = Bytes::from(xml);
        }
    }

    /// Logs a new snapshot; its answer says `pending` when it is to stay pending.
    fn snapshot_created(
        &self,
        params: &[(String, String)],
        xml: &str,
        now: Instant,
    ) -> Option<String> {
        let snapshot = element_text(xml, "snapshotId")?.to_owned();
        let volume = param(params, "VolumeId")
            .or_else(|| element_text(xml, "volumeId"))
            .unwrap_or_default()
            .to_owned();
        let mut state = lock(&self.state);
        state.snapshots_created.push((volume, snapshot.clone()));
        let lasts = state.pend_snapshots_for?;
        let pending = PendingSnapshot {
            created: now,
            lasts,
        };
        state.pending_snapshots.insert(snapshot, pending);
        Some(mark_pending(xml, pending.progress(now).unwrap_or(0)))
    }

    /// Asks moto for everything (it would ignore the paging parameters anyway, but they
    /// are the proxy's own) and cuts the requested page out of the answer.
    async fn answer_page(
        &self,
        incoming: &Incoming,
        params: &[(String, String)],
        page: &PageRequest,
    ) -> Result<Upstream, reqwest::Error> {
        let body = without_paging(page.api, params).unwrap_or_else(|| incoming.body.clone());
        let mut upstream = self.forward(incoming, body).await?;
        if upstream.status.is_success()
            && let Ok(xml) = std::str::from_utf8(&upstream.body)
            && let Some(paged) = cut_page(xml, page)
        {
            upstream.body = Bytes::from(paged);
        }
        Ok(upstream)
    }

    /// Sends the request to moto with `body`, keeping method, path, query and headers.
    async fn forward(&self, incoming: &Incoming, body: Bytes) -> Result<Upstream, reqwest::Error> {
        let path = incoming.uri.path_and_query().map_or("/", |p| p.as_str());
        let upstream = signed_region(&incoming.headers)
            .and_then(|region| lock(&self.state).routes.get(&region).cloned())
            .unwrap_or_else(|| self.upstream.clone());
        let response = self
            .client
            .request(incoming.method.clone(), format!("{upstream}{path}"))
            .headers(forwarded_headers(&incoming.headers))
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = response.bytes().await?;
        Ok(Upstream {
            status,
            content_type,
            body,
        })
    }

    fn record(&self, call: ProxyCall) {
        lock(&self.state).calls.push(call);
    }
}

impl IntoResponse for Upstream {
    /// moto's status, content type and body; nothing else of its headers matters to the SDK.
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        match self.content_type {
            Some(content_type) => headers.insert(header::CONTENT_TYPE, content_type),
            None => headers.remove(header::CONTENT_TYPE),
        };
        response
    }
}

/// The request's headers minus those that describe the original connection or body:
/// the client sets `host` and the length of the (possibly rewritten) body itself.
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let mut forwarded = headers.clone();
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ] {
        forwarded.remove(name);
    }
    forwarded
}

/// A form body as ordered pairs; `None` when it is not a form, so it is forwarded as-is.
fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_bytes(body).ok()
}

/// The first value of `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The region from a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/ec2/aws4_request, …`.
/// Works for any service (e.g. STS), and is `None` rather than an error when absent.
fn signed_region(headers: &HeaderMap) -> Option<String> {
    credential_scope(headers, 2)
}

/// The service the request is signed for (`ec2`, `iam`, `sts` …).
fn signed_service(headers: &HeaderMap) -> Option<String> {
    credential_scope(headers, 3)
}

/// One `/`-separated field of the SigV4 credential (0 is the access key id).
fn credential_scope(headers: &HeaderMap, field: usize) -> Option<String> {
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(field).map(str::to_owned)
}

/// Which slice of a paged action's items to return.
#[derive(Debug, PartialEq)]
struct PageRequest {
    api: Api,
    /// The XML list element holding the items.
    list: &'static str,
    /// The tag of one item.
    item: &'static str,
    max_results: usize,
    /// Index of the first item of this page.
    offset: usize,
}

/// `None` when the request is not to be paged (another action, or an EC2 request
/// without MaxResults); `Some(Err(message))` when AWS would reject its paging
/// parameters. IAM always pages, at 100 items when MaxItems is absent.
fn page_request(
    api: Api,
    action: &str,
    params: &[(String, String)],
) -> Option<Result<PageRequest, String>> {
    let lists: &'static [PagedList] = match api {
        Api::Ec2 => &EC2_PAGED_LISTS,
        Api::Iam => &IAM_PAGED_LISTS,
    };
    let paged = lists.iter().find(|paged| paged.action == action)?;
    let (size_param, token_param) = api.paging_params();
    let size = param(params, size_param);
    if api == Api::Ec2 && size.is_none() {
        return None;
    }
    Some(parse_page(api, paged, size, param(params, token_param)))
}

fn parse_page(
    api: Api,
    paged: &PagedList,
    size: Option<&str>,
    token: Option<&str>,
) -> Result<PageRequest, String> {
    let max_results = match (api, size) {
        (Api::Iam, None) => IAM_MAX_ITEMS_DEFAULT,
        (_, size) => parse_page_size(api, size.unwrap_or_default())?,
    };
    let offset = match token {
        None | Some("") => 0,
        Some(token) => parse_token(token).ok_or_else(|| match api {
            Api::Ec2 => format!("The token '{token}' is invalid for this request."),
            Api::Iam => format!("Invalid Marker: {token}"),
        })?,
    };
    Ok(PageRequest {
        api,
        list: paged.list,
        item: paged.item,
        max_results,
        offset,
    })
}

/// The page size if it is within AWS's bounds, else AWS's message for it.
fn parse_page_size(api: Api, size: &str) -> Result<usize, String> {
    let (min, cap) = match api {
        Api::Ec2 => (MAX_RESULTS_MIN, MAX_RESULTS_CAP),
        Api::Iam => (IAM_MAX_ITEMS_MIN, IAM_MAX_ITEMS_CAP),
    };
    size.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=cap).contains(n))
        .ok_or_else(|| match api {
            Api::Ec2 => format!(
                "Value ( {size} ) for parameter maxResults is invalid. \
                 Expecting a value between {min} and {cap}."
            ),
            Api::Iam => format!(
                "1 validation error detected: Value '{size}' at 'maxItems' failed to \
                 satisfy constraint: Member must have value between {min} and {cap}"
            ),
        })
}

fn make_token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{offset}")
}

fn parse_token(token: &str) -> Option<usize> {
    token.strip_prefix(TOKEN_PREFIX)?.parse().ok()
}

/// The form without the API's paging parameters, re-encoded.
fn without_paging(api: Api, params: &[(String, String)]) -> Option<Bytes> {
    let (size, token) = api.paging_params();
    let kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != size && k != token)
        .collect();
    serde_urlencoded::to_string(kept).ok().map(Bytes::from)
}

/// Where the list element's content sits in the XML.
struct ListSpan {
    /// Between the opening and the closing tag.
    content: Range<usize>,
    /// Just after the closing tag, where EC2's `<nextToken>` goes.
    after_close: usize,
}

/// The requested page of moto's answer, saying where to go on when more items remain
/// (EC2: `<nextToken>` after the list; IAM: `<IsTruncated>true` and `<Marker>`);
/// everything else (requestId …) is kept as it was. `None` when the list is missing or
/// empty (`<volumeSet/>`): then the answer already is the only page.
fn cut_page(xml: &str, page: &PageRequest) -> Option<String> {
    let span = find_list(xml, page.list)?;
    let content = &xml[span.content.clone()];
    let items = top_level_items(content, page.item);
    let start = page.offset.min(items.len());
    let end = start.saturating_add(page.max_results).min(items.len());

    let mut out = String::with_capacity(xml.len());
    out.push_str(&xml[..span.content.start]);
    for item in &items[start..end] {
        out.push_str(&content[item.clone()]);
    }
    out.push_str(&xml[span.content.end..span.after_close]);
    let rest = &xml[span.after_close..];
    if end < items.len() {
        let token = make_token(end);
        match page.api {
            Api::Ec2 => {
                out.push_str(&format!("<nextToken>{token}</nextToken>"));
                out.push_str(rest);
            }
            Api::Iam => out.push_str(&mark_truncated(rest, &token)),
        }
    } else {
        out.push_str(rest);
    }
    Some(out)
}

/// The part of an IAM answer after its paged list, saying that more items follow: AWS
/// puts `<Marker>` right after `<IsTruncated>true</IsTruncated>`, both in the Result.
/// moto's `<IsTruncated>false</IsTruncated>` is replaced; without one, both go first.
fn mark_truncated(rest: &str, token: &str) -> String {
    let truncated = format!("<IsTruncated>true</IsTruncated><Marker>{token}</Marker>");
    let open = "<IsTruncated>";
    let close = "</IsTruncated>";
    let element = rest.find(open).and_then(|start| {
        let end = start + rest[start..].find(close)? + close.len();
        Some(start..end)
    });
    match element {
        Some(element) => format!(
            "{}{truncated}{}",
            &rest[..element.start],
            &rest[element.end..]
        ),
        None => format!("{truncated}{rest}"),
    }
}

/// The first `<list>` element and its last closing tag (the outermost one, should the
/// name also occur nested). `None` for a missing or self-closing element.
fn find_list(xml: &str, list: &str) -> Option<ListSpan> {
    let open = format!("<{list}");
    let start = xml.match_indices(&open).map(|(i, _)| i).find(|&i| {
        matches!(
            xml[i + open.len()..].chars().next(),
            Some('>' | '/' | ' ' | '\t' | '\r' | '\n')
        )
    })?;
    let open_end = start + xml[start..].find('>')?;
    if xml[..open_end].ends_with('/') {
        return None;
    }
    let close = format!("</{list}>");
    let close_start = xml.rfind(&close).filter(|&i| i > open_end)?;
    Some(ListSpan {
        content: open_end + 1..close_start,
        after_close: close_start + close.len(),
    })
}

/// The text of the first `<name>…</name>` element (EC2 ids are plain text, unescaped).
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(&xml[start..end])
}

/// `xml` with the first `<name>` element's text replaced by `text`; the element goes
/// right after `</after>` (else at the end) when there is none.
fn with_element(xml: &str, name: &str, text: &str, after: &str) -> String {
    let element = format!("<{name}>{text}</{name}>");
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    if let Some(start) = xml.find(&open)
        && let Some(end) = xml[start..].find(&close).map(|i| start + i + close.len())
    {
        return format!("{}{element}{}", &xml[..start], &xml[end..]);
    }
    let after_close = format!("</{after}>");
    match xml.find(&after_close).map(|i| i + after_close.len()) {
        Some(at) => format!("{}{element}{}", &xml[..at], &xml[at..]),
        None => format!("{xml}{element}"),
    }
}

/// One snapshot (a DescribeSnapshots item or a CreateSnapshot answer) as AWS shows it
/// while it is being taken. A snapshot's own `<status>` and `<progress>` come before
/// anything nested but its tags, which hold only `<key>` and `<value>`.
fn mark_pending(snapshot: &str, progress: u32) -> String {
    let pending = with_element(snapshot, "status", "pending", "snapshotId");
    with_element(&pending, "progress", &format!("{progress}%"), "status")
}

/// DescribeSnapshots with every item for which `progress` gives a value marked pending
/// at that progress; `None` when no item changed.
fn pend_snapshot_items(xml: &str, progress: impl Fn(&str) -> Option<u32>) -> Option<String> {
    let span = find_list(xml, "snapshotSet")?;
    let content = &xml[span.content.clone()];
    let mut out = String::with_capacity(xml.len() + 64);
    out.push_str(&xml[..span.content.start]);
    let mut copied = 0;
    let mut changed = false;
    for item in top_level_items(content, "item") {
        let text = &content[item.clone()];
        if let Some(progress) = element_text(text, "snapshotId").and_then(&progress) {
            out.push_str(&content[copied..item.start]);
            out.push_str(&mark_pending(text, progress));
            copied = item.end;
            changed = true;
        }
    }
    out.push_str(&content[copied..]);
    out.push_str(&xml[span.content.end..]);
    changed.then_some(out)
}

/// How a tag relates to the item elements (`<item>`, `<member>`).
#[derive(Debug, PartialEq)]
enum ItemTag {
    Open,
    Close,
    Empty,
}

/// Classifies the text between `<` and `>`; `None` for any tag other than `item`.
fn item_tag(tag: &str, item: &str) -> Option<ItemTag> {
    if let Some(name) = tag.strip_prefix('/') {
        return (name.trim_end() == item).then_some(ItemTag::Close);
    }
    let empty = tag.ends_with('/');
    let name = tag
        .trim_end_matches('/')
        .split(char::is_whitespace)
        .next()?;
    match (name == item, empty) {
        (false, _) => None,
        (true, true) => Some(ItemTag::Empty),
        (true, false) => Some(ItemTag::Open),
    }
}

/// Byte ranges of the top-level `<item>…</item>` elements of a list's content. Items
/// contain nested items of the same tag (EC2's tagSet and attachmentSet, IAM's Tags and
/// GroupList …), so depth is counted; stray closing tags are ignored rather than trusted.
fn top_level_items(content: &str, item: &str) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut item_start = 0;
    let mut pos = 0;
    while let Some(lt) = content[pos..].find('<').map(|i| pos + i) {
        let Some(gt) = content[lt..].find('>').map(|i| lt + i) else {
            break;
        };
        pos = gt + 1;
        match item_tag(&content[lt + 1..gt], item) {
            Some(ItemTag::Open) => {
                if depth == 0 {
                    item_start = lt;
                }
                depth += 1;
            }
            Some(ItemTag::Close) if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    items.push(item_start..pos);
                }
            }
            Some(ItemTag::Empty) if depth == 0 => items.push(lt..pos),
            _ => {}
        }
    }
    items
}

/// A fresh id for an answer the proxy makes itself.
fn request_id() -> String {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    format!("aws-proxy-{}", REQUESTS.fetch_add(1, Ordering::Relaxed) + 1)
}

/// An error in the shape the EC2 Query API uses, which the SDK parses into a code.
fn ec2_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>\
         <Code>{code}</Code><Message>{}</Message></Error></Errors>\
         <RequestID>{request_id}</RequestID></Response>",
        xml_escape(message)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

/// An error in the shape the IAM Query API uses. AWS marks the caller's faults `Sender`
/// and its own (5xx) `Receiver`.
fn iam_error(status: StatusCode, code: &str, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{IAM_NAMESPACE}\"><Error><Type>{kind}</Type>\
         <Code>{code}</Code><Message>{}</Message></Error>\
         <RequestId>{}</RequestId></ErrorResponse>",
        xml_escape(message),
        request_id()
    );
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// A successful IAM answer: `result` (the `…Result` element, if the action has one)
/// and the request id.
fn iam_ok(action: &str, result: &str) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{IAM_NAMESPACE}\">{result}\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        request_id()
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

/// One `<member>` of ListServiceSpecificCredentials.
fn credential_member(credential: &ServiceCredential) -> String {
    let user = xml_escape(&credential.user);
    format!(
        "<member><UserName>{user}</UserName><Status>Active</Status>\
         <ServiceUserName>{user}-at-{ACCOUNT_ID}</ServiceUserName>\
         <CreateDate>2026-01-05T10:00:00Z</CreateDate>\
         <ServiceSpecificCredentialId>{}</ServiceSpecificCredentialId>\
         <ServiceName>{}</ServiceName></member>",
        credential.id,
        xml_escape(&credential.service)
    )
}

/// An id like AWS's: `ACCA` and 17 upper-case letters or digits.
fn credential_id() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..17)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect();
    format!("ACCA{tail}")
}

/// moto is gone or answered garbage: a 502 the SDK treats as a server error.
fn unreachable_upstream(api: Api, error: &reqwest::Error) -> Response {
    api.error(
        StatusCode::BAD_GATEWAY,
        if api == Api::Iam {
            "ServiceFailure"
        } else {
            "InternalError"
        },
        &format!("The proxy could not reach moto: {error}"),
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOLUMES: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <DescribeVolumesResponse><volumeSet>\
        <item><tagSet><item><key>a</key><value>b</value></item></tagSet><volumeId>vol-1</volumeId><attachmentSet/></item>\
        <item><tagSet/><volumeId>vol-2</volumeId><attachmentSet><item><device>x</device></item></attachmentSet></item>\
        <item><volumeId>vol-3</volumeId></item>\
        </volumeSet><requestId>r-1</requestId></DescribeVolumesResponse>";

    fn page(max_results: usize, offset: usize) -> PageRequest {
        PageRequest {
            api: Api::Ec2,
            list: "volumeSet",
            item: "item",
            max_results,
            offset,
        }
    }

    #[test]
    fn top_level_items_skip_nested_items() {
        let span = find_list(VOLUMES, "volumeSet").unwrap();
        let content = &VOLUMES[span.content];
        let items = top_level_items(content, "item");
        assert_eq!(items.len(), 3);
        assert!(content[items[0].clone()].contains("vol-1"));
        assert!(content[items[1].clone()].ends_with("</attachmentSet></item>"));
    }

    #[test]
    fn pages_carry_a_token_until_the_last() {
        let first = cut_page(VOLUMES, &page(2, 0)).unwrap();
        assert!(first.contains("vol-1") && first.contains("vol-2") && !first.contains("vol-3"));
        assert!(first.contains("</volumeSet><nextToken>p-2</nextToken><requestId>r-1"));
        let last = cut_page(VOLUMES, &page(2, 2)).unwrap();
        assert!(last.contains("vol-3") && !last.contains("vol-1"));
        assert!(!last.contains("nextToken"));
    }

    #[test]
    fn empty_lists_are_left_alone() {
        let xml = "<R><volumeSet/><requestId>r</requestId></R>";
        assert!(cut_page(xml, &page(5, 0)).is_none());
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn paging_parameters_are_checked_like_aws() {
        let volumes = |rest: &[(&str, &str)]| {
            let mut p = params(&[("Action", "DescribeVolumes")]);
            p.extend(params(rest));
            page_request(Api::Ec2, "DescribeVolumes", &p)
        };
        assert_eq!(volumes(&[]), None);
        assert!(matches!(volumes(&[("MaxResults", "1001")]), Some(Err(_))));
        assert!(matches!(volumes(&[("MaxResults", "4")]), Some(Err(_))));
        assert!(matches!(volumes(&[("MaxResults", "x")]), Some(Err(_))));
        assert_eq!(
            volumes(&[("MaxResults", "5"), ("NextToken", "p-10")]),
            Some(Ok(page(5, 10)))
        );
        assert_eq!(
            page_request(Api::Ec2, "AssumeRole", &params(&[("MaxResults", "5")])),
            None
        );
    }

    #[test]
    fn region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        assert_eq!(signed_region(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/sts/aws4_request, \
                 SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(signed_region(&headers).as_deref(), Some("eu-west-1"));
        assert_eq!(signed_service(&headers).as_deref(), Some("sts"));
    }

    const USERS: &str = "<GetAccountAuthorizationDetailsResponse xmlns=\"x\">\
        <GetAccountAuthorizationDetailsResult><UserDetailList>\
        <member><UserName>u1</UserName><GroupList><member>admins</member></GroupList>\
        <Tags><member><Key>a</Key><Value>1</Value></member><member><Key>b</Key><Value>2</Value></member></Tags></member>\
        <member><UserName>u2</UserName><GroupList/><Tags/></member>\
        <member><UserName>u3</UserName><Tags><member><Key>c</Key><Value>3</Value></member></Tags></member>\
        </UserDetailList><GroupDetailList/><IsTruncated>false</IsTruncated>\
        </GetAccountAuthorizationDetailsResult>\
        <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\
        </GetAccountAuthorizationDetailsResponse>";

    fn iam_page(max_results: usize, offset: usize) -> PageRequest {
        PageRequest {
            api: Api::Iam,
            list: "UserDetailList",
            item: "member",
            max_results,
            offset,
        }
    }

    #[test]
    fn iam_pages_count_only_top_level_members() {
        let span = find_list(USERS, "UserDetailList").unwrap();
        let content = &USERS[span.content];
        let items = top_level_items(content, "member");
        assert_eq!(items.len(), 3);
        assert!(content[items[0].clone()].starts_with("<member><UserName>u1"));
        assert!(content[items[0].clone()].ends_with("</Value></member></Tags></member>"));
        assert!(content[items[2].clone()].contains("u3"));

        let first = cut_page(USERS, &iam_page(2, 0)).unwrap();
        assert!(first.contains("<Key>b</Key>") && first.contains("u2") && !first.contains("u3"));
        let second = cut_page(USERS, &iam_page(2, 2)).unwrap();
        assert!(second.contains("<UserDetailList><member><UserName>u3"));
        assert!(second.contains("<Key>c</Key>") && !second.contains("u1"));
    }

    #[test]
    fn iam_pages_are_marked_truncated_with_a_marker_in_the_result() {
        let first = cut_page(USERS, &iam_page(2, 0)).unwrap();
        assert!(first.contains(
            "</UserDetailList><GroupDetailList/>\
             <IsTruncated>true</IsTruncated><Marker>p-2</Marker>\
             </GetAccountAuthorizationDetailsResult>"
        ));
        assert!(!first.contains("false"));
        let last = cut_page(USERS, &iam_page(2, 2)).unwrap();
        assert!(
            last.contains(
                "<IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult>"
            )
        );
        assert!(!last.contains("Marker"));
        // All on one page: the answer is moto's, unchanged.
        assert_eq!(cut_page(USERS, &iam_page(100, 0)).unwrap(), USERS);
        // Nothing to mark in an answer without IsTruncated: it goes in front of the rest.
        assert_eq!(
            mark_truncated("</ListUsersResult>", "p-7"),
            "<IsTruncated>true</IsTruncated><Marker>p-7</Marker></ListUsersResult>"
        );
        let empty = "<ListUsersResponse><ListUsersResult><Users/>\
                     <IsTruncated>false</IsTruncated></ListUsersResult></ListUsersResponse>";
        assert!(cut_page(empty, &iam_page(1, 0)).is_none());
    }

    #[test]
    fn iam_max_items_is_checked_like_aws() {
        let users = |rest: &[(&str, &str)]| {
            let mut p = params(&[("Action", "ListUsers"), ("Version", IAM_VERSION)]);
            p.extend(params(rest));
            page_request(Api::Iam, "ListUsers", &p)
        };
        let users_page = |max_results, offset| PageRequest {
            list: "Users",
            ..iam_page(max_results, offset)
        };
        assert_eq!(users(&[]), Some(Ok(users_page(100, 0))));
        assert_eq!(users(&[("MaxItems", "1")]), Some(Ok(users_page(1, 0))));
        assert_eq!(
            users(&[("MaxItems", "1000"), ("Marker", "p-300")]),
            Some(Ok(users_page(1000, 300)))
        );
        for bad in ["0", "1001", "-1", "x", ""] {
            assert!(
                matches!(users(&[("MaxItems", bad)]), Some(Err(_))),
                "MaxItems={bad}"
            );
        }
        assert!(matches!(users(&[("Marker", "bogus")]), Some(Err(_))));
        // Not a paged IAM action, and not an IAM action for EC2.
        assert_eq!(page_request(Api::Iam, "ListRoles", &params(&[])), None);
        assert_eq!(page_request(Api::Ec2, "ListUsers", &params(&[])), None);
        assert_eq!(
            without_paging(Api::Iam, &users_params()).as_deref(),
            Some(&b"Action=ListUsers&Version=2010-05-08"[..])
        );
    }

    fn users_params() -> Vec<(String, String)> {
        params(&[
            ("Action", "ListUsers"),
            ("MaxItems", "5"),
            ("Version", IAM_VERSION),
            ("Marker", "p-5"),
        ])
    }

    #[test]
    fn iam_is_told_by_version_or_signing_service() {
        let none = HeaderMap::new();
        assert_eq!(Api::of(Some(&users_params()), &none), Api::Iam);
        let ec2 = params(&[("Action", "DescribeVolumes"), ("Version", "2016-11-15")]);
        assert_eq!(Api::of(Some(&ec2), &none), Api::Ec2);
        assert_eq!(Api::of(None, &none), Api::Ec2);
        let mut signed = HeaderMap::new();
        signed.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=abc",
            ),
        );
        assert_eq!(Api::of(None, &signed), Api::Iam);
    }

    const SNAPSHOTS: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
        <DescribeSnapshotsResponse><snapshotSet>\
        <item><tagSet><item><key>status</key><value>completed</value></item></tagSet>\
        <snapshotId>snap-1</snapshotId><volumeId>vol-1</volumeId><status>completed</status>\
        <progress>100%</progress></item>\
        <item><tagSet/><snapshotId>snap-2</snapshotId><status>completed</status>\
        <progress>100%</progress></item>\
        </snapshotSet><requestId>r-1</requestId></DescribeSnapshotsResponse>";

    #[test]
    fn pending_snapshots_are_marked_and_the_rest_left_alone() {
        let pended = pend_snapshot_items(SNAPSHOTS, |id| (id == "snap-2").then_some(40)).unwrap();
        let span = find_list(&pended, "snapshotSet").unwrap();
        let content = &pended[span.content];
        let items = top_level_items(content, "item");
        assert_eq!(items.len(), 2);
        let first = &content[items[0].clone()];
        assert!(first.contains("<status>completed</status><progress>100%</progress>"));
        assert!(first.contains("<value>completed</value>"), "{first}");
        let second = &content[items[1].clone()];
        assert!(
            second.ends_with("<status>pending</status><progress>40%</progress></item>"),
            "{second}"
        );
        assert!(
            pended
                .ends_with("</snapshotSet><requestId>r-1</requestId></DescribeSnapshotsResponse>")
        );
        assert!(pend_snapshot_items(SNAPSHOTS, |_| None).is_none());
    }

    #[test]
    fn a_pending_snapshot_gets_a_progress_even_without_one() {
        let created = "<CreateSnapshotResponse><snapshotId>snap-9</snapshotId>\
                       <status>completed</status><requestId>r</requestId></CreateSnapshotResponse>";
        assert_eq!(
            mark_pending(created, 0),
            "<CreateSnapshotResponse><snapshotId>snap-9</snapshotId>\
             <status>pending</status><progress>0%</progress><requestId>r</requestId></CreateSnapshotResponse>"
        );
        let start = Instant::now();
        let pending = PendingSnapshot {
            created: start,
            lasts: Duration::from_secs(10),
        };
        assert_eq!(pending.progress(start), Some(0));
        assert_eq!(
            pending.progress(start + Duration::from_millis(9_999)),
            Some(99)
        );
        assert_eq!(pending.progress(start + Duration::from_secs(10)), None);
    }

    #[test]
    fn credential_ids_look_like_aws() {
        let id = credential_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("ACCA"));
        assert!(
            id.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }
}
