//! An HTTP proxy between the AWS SDK and a moto server.
//!
//! moto answers the EC2 Query API well enough for our code, but it returns every item of
//! DescribeVolumes / DescribeSnapshots / DescribeImages in one response and cannot be
//! told to throttle or to lose a region. The code under test must cope with all of that
//! on real AWS, so the proxy adds it: it pages those three actions the way AWS does,
//! injects throttling and region outages on demand, and records every request so tests
//! and benchmarks can see how many calls were made and when.
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
use std::time::Instant;

/// AWS rejects a MaxResults above this for all three paged actions.
const MAX_RESULTS_CAP: usize = 1000;
/// AWS rejects a MaxResults below this for all three paged actions.
const MAX_RESULTS_MIN: usize = 5;
/// Prefix of the proxy's own continuation tokens; the rest is the offset of the next item.
const TOKEN_PREFIX: &str = "p-";

/// The actions the proxy pages, with the XML list element that holds their items.
const PAGED_LISTS: [(&str, &str); 3] = [
    ("DescribeVolumes", "volumeSet"),
    ("DescribeSnapshots", "snapshotSet"),
    ("DescribeImages", "imagesSet"),
];

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

/// Faults to inject and the request log, shared by the handle and the server task.
#[derive(Default)]
struct ProxyState {
    failed_regions: HashSet<String>,
    /// Action → how many more requests to throttle.
    throttles: HashMap<String, usize>,
    /// Region → its own upstream, like AWS's independent regional endpoints.
    routes: HashMap<String, String>,
    calls: Vec<ProxyCall>,
}

/// Handle to a running proxy. Cheap to clone; all clones share faults and the log.
#[derive(Clone)]
pub struct AwsProxy {
    /// Base URL to use as the SDK's `endpoint_url`, e.g. `http://127.0.0.1:41234`.
    pub endpoint: String,
    state: Arc<Mutex<ProxyState>>,
}

impl AwsProxy {
    /// Serves on a free loopback port and forwards to `upstream` (moto's base URL).
    /// The server lives as long as the current Tokio runtime.
    pub async fn start(upstream: &str) -> Self {
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = Shared {
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
        }
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

    /// Throttles the next `n` requests for `action` with a 503 `RequestLimitExceeded`,
    /// which the SDK classifies as throttling and retries with backoff.
    pub fn throttle_next(&self, action: &str, n: usize) {
        lock(&self.state).throttles.insert(action.to_owned(), n);
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

    /// Forgets the recorded requests (e.g. after test setup), keeping the faults.
    pub fn clear_calls(&self) {
        lock(&self.state).calls.clear();
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
    let incoming = Incoming {
        method,
        uri,
        headers,
        body,
    };
    let response = match shared.injected_fault(&action, &region) {
        Some(fault) => fault,
        None => shared.answer(&incoming, params.as_deref()).await,
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
    /// The error a configured fault calls for, if any. A failed region wins over
    /// throttling, and does not use up the throttle count.
    fn injected_fault(&self, action: &str, region: &str) -> Option<Response> {
        let mut state = lock(&self.state);
        if state.failed_regions.contains(region) {
            let message = format!("The service is unavailable in {region}.");
            return Some(ec2_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                &message,
            ));
        }
        if let Some(left) = state.throttles.get_mut(action)
            && *left > 0
        {
            *left -= 1;
            return Some(ec2_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ));
        }
        None
    }

    /// Pages the paged actions when asked to; everything else goes to moto unchanged.
    async fn answer(&self, incoming: &Incoming, params: Option<&[(String, String)]>) -> Response {
        let action = params.and_then(|p| param(p, "Action")).unwrap_or_default();
        match params.and_then(|p| page_request(action, p)) {
            None => match self.forward(incoming, incoming.body.clone()).await {
                Ok(upstream) => upstream.into_response(),
                Err(e) => unreachable_upstream(&e),
            },
            Some(Err(message)) => {
                ec2_error(StatusCode::BAD_REQUEST, "InvalidParameterValue", &message)
            }
            Some(Ok(page)) => {
                self.answer_page(incoming, params.unwrap_or_default(), &page)
                    .await
            }
        }
    }

    /// Asks moto for everything (it would ignore the paging parameters anyway, but they
    /// are the proxy's own) and cuts the requested page out of the answer.
    async fn answer_page(
        &self,
        incoming: &Incoming,
        params: &[(String, String)],
        page: &PageRequest,
    ) -> Response {
        let body = without_paging(params).unwrap_or_else(|| incoming.body.clone());
        let mut upstream = match self.forward(incoming, body).await {
            Ok(upstream) => upstream,
            Err(e) => return unreachable_upstream(&e),
        };
        if upstream.status.is_success()
            && let Ok(xml) = std::str::from_utf8(&upstream.body)
            && let Some(paged) = cut_page(xml, page)
        {
            upstream.body = Bytes::from(paged);
        }
        upstream.into_response()
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
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(2).map(str::to_owned)
}

/// Which slice of a paged action's items to return.
#[derive(Debug, PartialEq)]
struct PageRequest {
    /// The XML list element holding the items.
    list: &'static str,
    max_results: usize,
    /// Index of the first item of this page.
    offset: usize,
}

/// `None` when the request is not to be paged (another action, or no MaxResults);
/// `Some(Err(message))` when AWS would reject its paging parameters.
fn page_request(action: &str, params: &[(String, String)]) -> Option<Result<PageRequest, String>> {
    let list = PAGED_LISTS
        .iter()
        .find(|(paged, _)| *paged == action)
        .map(|(_, list)| *list)?;
    let max_results = param(params, "MaxResults")?;
    Some(parse_page(list, max_results, param(params, "NextToken")))
}

fn parse_page(
    list: &'static str,
    max_results: &str,
    next_token: Option<&str>,
) -> Result<PageRequest, String> {
    let max_results = max_results
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (MAX_RESULTS_MIN..=MAX_RESULTS_CAP).contains(n))
        .ok_or_else(|| {
            format!(
                "Value ( {max_results} ) for parameter maxResults is invalid. \
                 Expecting a value between {MAX_RESULTS_MIN} and {MAX_RESULTS_CAP}."
            )
        })?;
    let offset = match next_token {
        None | Some("") => 0,
        Some(token) => parse_token(token)
            .ok_or_else(|| format!("The token '{token}' is invalid for this request."))?,
    };
    Ok(PageRequest {
        list,
        max_results,
        offset,
    })
}

fn make_token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{offset}")
}

fn parse_token(token: &str) -> Option<usize> {
    token.strip_prefix(TOKEN_PREFIX)?.parse().ok()
}

/// The form without `MaxResults` and `NextToken`, re-encoded.
fn without_paging(params: &[(String, String)]) -> Option<Bytes> {
    let kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "MaxResults" && k != "NextToken")
        .collect();
    serde_urlencoded::to_string(kept).ok().map(Bytes::from)
}

/// Where the list element's content sits in the XML.
struct ListSpan {
    /// Between the opening and the closing tag.
    content: Range<usize>,
    /// Just after the closing tag, where `<nextToken>` goes.
    after_close: usize,
}

/// The requested page of moto's answer, with a `<nextToken>` after the list when more
/// items remain; everything else (requestId …) is kept as it was. `None` when the list
/// is missing or empty (`<volumeSet/>`): then the answer already is the only page.
fn cut_page(xml: &str, page: &PageRequest) -> Option<String> {
    let span = find_list(xml, page.list)?;
    let content = &xml[span.content.clone()];
    let items = top_level_items(content);
    let start = page.offset.min(items.len());
    let end = start.saturating_add(page.max_results).min(items.len());

    let mut out = String::with_capacity(xml.len());
    out.push_str(&xml[..span.content.start]);
    for item in &items[start..end] {
        out.push_str(&content[item.clone()]);
    }
    out.push_str(&xml[span.content.end..span.after_close]);
    if end < items.len() {
        out.push_str(&format!("<nextToken>{}</nextToken>", make_token(end)));
    }
    out.push_str(&xml[span.after_close..]);
    Some(out)
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

/// How a tag relates to `<item>` elements.
#[derive(Debug, PartialEq)]
enum ItemTag {
    Open,
    Close,
    Empty,
}

/// Classifies the text between `<` and `>`; `None` for any tag other than `item`.
fn item_tag(tag: &str) -> Option<ItemTag> {
    if let Some(name) = tag.strip_prefix('/') {
        return (name.trim_end() == "item").then_some(ItemTag::Close);
    }
    let empty = tag.ends_with('/');
    let name = tag
        .trim_end_matches('/')
        .split(char::is_whitespace)
        .next()?;
    match (name == "item", empty) {
        (false, _) => None,
        (true, true) => Some(ItemTag::Empty),
        (true, false) => Some(ItemTag::Open),
    }
}

/// Byte ranges of the top-level `<item>…</item>` elements of a list's content. Items
/// contain nested `<item>`s (tagSet, attachmentSet, blockDeviceMapping …), so depth is
/// counted; stray closing tags are ignored rather than trusted.
fn top_level_items(content: &str) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut item_start = 0;
    let mut pos = 0;
    while let Some(lt) = content[pos..].find('<').map(|i| pos + i) {
        let Some(gt) = content[lt..].find('>').map(|i| lt + i) else {
            break;
        };
        pos = gt + 1;
        match item_tag(&content[lt + 1..gt]) {
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

/// An error in the shape the EC2 Query API uses, which the SDK parses into a code.
fn ec2_error(status: StatusCode, code: &str, message: &str) -> Response {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let request_id = format!("aws-proxy-{}", REQUESTS.fetch_add(1, Ordering::Relaxed) + 1);
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

/// moto is gone or answered garbage: a 502 the SDK treats as a server error.
fn unreachable_upstream(error: &reqwest::Error) -> Response {
    ec2_error(
        StatusCode::BAD_GATEWAY,
        "InternalError",
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
            list: "volumeSet",
            max_results,
            offset,
        }
    }

    #[test]
    fn top_level_items_skip_nested_items() {
        let span = find_list(VOLUMES, "volumeSet").unwrap();
        let content = &VOLUMES[span.content];
        let items = top_level_items(content);
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

    #[test]
    fn paging_parameters_are_checked_like_aws() {
        let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let volumes = |rest: &[(&str, &str)]| {
            let mut p = params(&[("Action", "DescribeVolumes")]);
            p.extend(params(rest));
            page_request("DescribeVolumes", &p)
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
            page_request("AssumeRole", &params(&[("MaxResults", "5")])),
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
    }
}
