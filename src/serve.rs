//! `actlog serve`: the HTTP sidecar for services that cannot link the library.
//!
//! Writes go through one shared [`Writer`], so concurrent requests share lock, write and
//! fsync cycles (group commit) and get every guarantee `actlog append` has. Reads go
//! through the same [`Filter`], query and follow code as `actlog query` and `tail -f`.
//! The routes are documented in `docs/openapi.yaml`.

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::filter::{Filter, FilterSpec};
use crate::follow::{Follower, Waiter};
use crate::page::{self, Cursor};
use crate::query::Query;
use crate::record::{Activity, format_timestamp};
use crate::writer::{Store, Writer};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most records in one `POST /v1/activity`.
pub const MAX_RECORDS: usize = 1000;
/// Records per `GET /v1/activity` page unless `limit` says otherwise.
pub const DEFAULT_PAGE: usize = 100;
/// Largest `limit` of one page.
pub const MAX_PAGE: usize = 1000;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// When set, every `/v1` request must carry `Authorization: Bearer <token>`.
    pub token: Option<Vec<u8>>,
    /// Longest a request (other than a stream) may take before it is answered 408.
    pub request_timeout: Duration,
}

/// What every handler shares.
struct AppState {
    dir: PathBuf,
    writer: Writer,
    clock: Arc<dyn Clock>,
    token: Option<Vec<u8>>,
    /// Set on SIGTERM: streams end so that the graceful shutdown can finish.
    closing: AtomicBool,
}

type Shared = Arc<AppState>;

/// An error answer: a status and a JSON body `{"error": "...", ...}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Reads the token file: its content without surrounding whitespace, which must not be
/// empty.
pub fn read_token(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, "read token file", e))?;
    let token = text.trim_ascii().to_vec();
    if token.is_empty() {
        return Err(Error::io(
            path,
            "read token file",
            std::io::Error::new(std::io::ErrorKind::InvalidData, "the token file is empty"),
        ));
    }
    Ok(token)
}

/// Serves `store` until SIGTERM or SIGINT, then stops accepting, finishes in-flight
/// requests, ends streams, flushes buffered records and returns. `ready` is called with
/// the bound address once the server accepts connections.
pub fn run(store: &Store, options: &ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("<tokio runtime>", "start", e))?;
    let state = Arc::new(AppState {
        dir: store.dir().to_path_buf(),
        writer: store.writer(),
        clock: store.options().clock.clone(),
        token: options.token.clone(),
        closing: AtomicBool::new(false),
    });
    let listen = options.listen;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::io(format!("listen address {listen}"), "bind", e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::io(format!("listen address {listen}"), "bind", e))?;
        ready(bound);
        let closing = state.clone();
        axum::serve(listener, router(state.clone(), options.request_timeout))
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                closing.closing.store(true, Ordering::SeqCst);
            })
            .await
            .map_err(|e| Error::io(format!("listen address {listen}"), "serve", e))
    });
    // Every request has been answered; buffered records go to disk before we exit.
    let flushed = state.writer.flush();
    runtime.shutdown_timeout(Duration::from_secs(5));
    served?;
    flushed
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without signal handlers the server runs until killed.
        _ => std::future::pending::<()>().await,
    }
}

fn router(state: Shared, timeout: Duration) -> Router {
    let api = Router::new()
        .route("/v1/activity", post(post_activity).get(get_activity))
        .route("/v1/stats", get(get_stats))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // A stream lasts as long as its client wants: no timeout.
        .route("/v1/activity/stream", get(get_stream))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api)
        .fallback(not_found)
        // The body limit is enforced (with a JSON answer) by `post_activity` itself.
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            },
        ))
        .with_state(state)
}

/// Checks the bearer token, in time that does not depend on where a wrong token differs.
async fn authorize(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    if token_matches(token, given) {
        next.run(request).await
    } else {
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        r
    }
}

/// Compares every byte of the expected token whatever the given one is, so neither a
/// wrong byte's position nor (beyond equal or not) the length shows in the time taken.
fn token_matches(expected: &[u8], given: &[u8]) -> bool {
    let mut padded = vec![0u8; expected.len()];
    let n = given.len().min(expected.len());
    padded[..n].copy_from_slice(&given[..n]);
    let same_len = subtle::Choice::from(u8::from(given.len() == expected.len()));
    bool::from(padded.ct_eq(expected) & same_len)
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<Shared>) -> Response {
    let dir = state.dir.clone();
    match tokio::task::spawn_blocking(move || check_ready(&dir)).await {
        Ok(Ok(())) => axum::Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "not ready", "error": e.to_string()})),
        )
            .into_response(),
        Err(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "readiness check failed")
            .into_response(),
    }
}

/// The directory takes a file opened for writing and a lock on it.
fn check_ready(dir: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(".readyz.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| Error::io(&path, "open for writing", e))?;
    match file.try_lock() {
        // Another pod checking at the same moment holds it: locks work.
        Ok(()) | Err(std::fs::TryLockError::WouldBlock) => Ok(()),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Lock { path, source }),
    }
}

async fn not_found(request: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {} {}", request.method(), request.uri().path()),
    )
    .into_response()
}

async fn get_stats(State(state): State<Shared>) -> Response {
    let dir = state.dir.clone();
    match tokio::task::spawn_blocking(move || crate::stats::stats(&dir)).await {
        Ok(Ok(stats)) => axum::Json(stats).into_response(),
        Ok(Err(e)) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
        Err(_) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "stats failed").into_response(),
    }
}

/// `POST /v1/activity`: one record or an array; all validated before any is written.
async fn post_activity(State(state): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    match post_records(state, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn post_records(
    state: Shared,
    headers: &HeaderMap,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE)
        && !kind.as_bytes().starts_with(b"application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY_BYTES} bytes; send fewer records per request"),
            )
        })?;
    let activities = parse_body(&bytes)?;
    let writer_state = state.clone();
    let written =
        tokio::task::spawn_blocking(move || writer_state.writer.append_batch(&activities))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the write failed"))?;
    match written {
        Ok(stamps) => {
            let records: Vec<Value> = stamps
                .iter()
                .map(|s| json!({"id": s.id, "timestamp": format_timestamp(s.timestamp)}))
                .collect();
            Ok((
                StatusCode::CREATED,
                axum::Json(json!({ "records": records })),
            )
                .into_response())
        }
        Err(Error::InvalidAt { index, source }) => Err(invalid(index, &source)),
        Err(e) => {
            // Records of several days are written one day at a time; a failure after the
            // first day leaves a prefix written, which the client must not send again.
            let mut body = json!({ "error": e.to_string(), "written": e.written() });
            if let Error::Partial { .. } = e {
                body["hint"] = json!("resend only the records after the first `written`");
            }
            Err(ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body,
            })
        }
    }
}

fn invalid(index: usize, e: &Error) -> ApiError {
    let field = match e {
        Error::Invalid(v) => Some(v.field.clone()),
        _ => None,
    };
    ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "error": format!("record {index}: {e}"),
            "index": index,
            "field": field,
        }),
    }
}

/// The records of a request body: one JSON object, or an array of up to [`MAX_RECORDS`].
fn parse_body(bytes: &[u8]) -> std::result::Result<Vec<Activity>, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let raws: Vec<Box<serde_json::value::RawValue>> = match bytes.trim_ascii_start().first() {
        Some(b'[') => serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("the body is not a JSON array of records: {e}")))?,
        Some(_) => vec![
            serde_json::from_slice(bytes).map_err(|e| bad(format!("the body is not JSON: {e}")))?,
        ],
        None => {
            return Err(bad(
                "the body is empty; send a record or an array of records".into(),
            ));
        }
    };
    if raws.is_empty() {
        return Err(bad("the array holds no records".into()));
    }
    if raws.len() > MAX_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} records in one request; at most {MAX_RECORDS}",
                raws.len()
            ),
        ));
    }
    raws.iter()
        .enumerate()
        .map(|(i, raw)| {
            Activity::from_json(raw.get().as_bytes()).map_err(|v| invalid(i, &Error::Invalid(v)))
        })
        .collect()
}

/// The filter and paging parameters of a query string.
#[derive(Debug, Default)]
struct Params {
    spec: FilterSpec,
    limit: Option<String>,
    cursor: Option<String>,
    order: Option<String>,
}

fn params(raw: Option<&str>, paged: bool) -> std::result::Result<Params, ApiError> {
    let mut p = Params::default();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "user" => p.spec.users.push(value),
            "action" => p.spec.actions.push(value),
            "ip" => p.spec.ips.push(value),
            "where" => p.spec.wheres.push(value),
            "grep" => p.spec.greps.push(value),
            "since" => p.spec.since = Some(value),
            "until" => p.spec.until = Some(value),
            "limit" if paged => p.limit = Some(value),
            "cursor" if paged => p.cursor = Some(value),
            "order" if paged => p.order = Some(value),
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter {other:?}"),
                ));
            }
        }
    }
    Ok(p)
}

fn filter(state: &AppState, spec: &FilterSpec) -> std::result::Result<Filter, ApiError> {
    // The same words as the command line's: `--user "x": ...`.
    Filter::new(spec, state.clock.now())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// `GET /v1/activity`: a page of matching records, newest first.
async fn get_activity(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    match query_page(state, raw.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn query_page(state: Shared, raw: Option<&str>) -> std::result::Result<Response, ApiError> {
    let p = params(raw, true)?;
    let filter = filter(&state, &p.spec)?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let limit = match &p.limit {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad(format!("limit {text:?}: expected 1 to {MAX_PAGE}")))?,
    };
    let oldest_first = match p.order.as_deref() {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(other) => return Err(bad(format!("order {other:?}: expected newest or oldest"))),
    };
    let cursor = match &p.cursor {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            bad(format!(
                "cursor {text:?}: not a cursor this server handed out"
            ))
        })?),
    };
    let dir = state.dir.clone();
    let page =
        tokio::task::spawn_blocking(move || page::page(&dir, &filter, oldest_first, limit, cursor))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the query failed"))?
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    // The stored lines are JSON already: they go out as they are.
    let mut body = Vec::with_capacity(page.lines.iter().map(|l| l.len() + 1).sum::<usize>() + 64);
    body.extend_from_slice(b"{\"records\":[");
    for (i, line) in page.lines.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b"],\"next_cursor\":");
    match page.next {
        Some(c) => body.extend_from_slice(json!(c.encode()).to_string().as_bytes()),
        None => body.extend_from_slice(b"null"),
    }
    body.extend_from_slice(format!(",\"damaged\":{}}}", page.outcome.damaged).as_bytes());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /v1/activity/stream`: server-sent events, one per new matching record, from now
/// on, across day rollover.
async fn get_stream(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    let p = match params(raw.as_deref(), false) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let filter = match filter(&state, &p.spec) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let (follower, _) = match Follower::start(&state.dir, state.clock.clone()) {
        Ok(f) => f,
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let (tx, rx) =
        tokio::sync::mpsc::channel::<std::result::Result<Event, std::convert::Infallible>>(256);
    let query = Query {
        filter,
        ..Query::default()
    };
    std::thread::spawn(move || follow(&state, follower, &query, &tx));
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Feeds one stream until its client goes away or the server shuts down.
fn follow(
    state: &AppState,
    mut follower: Follower,
    query: &Query,
    tx: &tokio::sync::mpsc::Sender<std::result::Result<Event, std::convert::Infallible>>,
) {
    let mut waiter = Waiter::new(&state.dir, None);
    while !tx.is_closed() && !state.closing.load(Ordering::SeqCst) {
        let read = follower.read_matching(query, &mut |line, _| {
            let event = Event::default()
                .event("activity")
                .data(String::from_utf8_lossy(line));
            match tx.blocking_send(Ok(event)) {
                Ok(()) => std::ops::ControlFlow::Continue(()),
                Err(_) => std::ops::ControlFlow::Break(()),
            }
        });
        match read {
            Ok((flow, _)) if flow.is_continue() => {}
            // The client left, or the directory cannot be read: end the stream.
            _ => return,
        }
        waiter.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(token_matches(b"secret", b"secret"));
        assert!(!token_matches(b"secret", b"secreT"));
        assert!(!token_matches(b"secret", b"secret2"));
        assert!(!token_matches(b"secret", b"secre"));
        assert!(!token_matches(b"secret", b""));
    }

    #[test]
    fn a_body_is_one_record_or_an_array_and_errors_name_index_and_field() {
        assert_eq!(
            parse_body(br#"{"username":"a","action":"b"}"#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            parse_body(br#" [{"username":"a","action":"b"},{"username":"c","action":"d"}]"#)
                .unwrap()
                .len(),
            2
        );
        let e = parse_body(br#"[{"username":"a","action":"b"},{"username":"c"}]"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body["index"], 1);
        assert_eq!(e.body["field"], "action");
    }
}
