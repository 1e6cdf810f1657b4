//! `actlog serve`: the HTTP sidecar for services that cannot link the library.
//!
//! Writes go through one shared [`Writer`], so concurrent requests share lock, write and
//! fsync cycles (group commit) and get every guarantee `actlog append` has. Reads go
//! through the same [`Filter`], query and follow code as `actlog query` and `tail -f`.
//! The routes are documented in `docs/openapi.yaml`.

use crate::once::Window;
use actlog_core::clock::Clock;
use actlog_core::error::{Error, Result};
use actlog_core::record::{Activity, format_timestamp};
use actlog_read::filter::{Filter, FilterSpec};
use actlog_read::follow::Waiter;
use actlog_read::page::{self, Cursor};
use actlog_read::resume::Resumable;
use actlog_write::{Store, Writer};
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
    /// Longest a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed.
    pub header_timeout: Duration,
    /// Most connections served at once (further ones wait to be accepted).
    pub max_connections: usize,
    /// How many recent ids are remembered so that a retried record is not written twice
    /// ([`crate::once`]); 0 turns the check off.
    pub dedupe_window: usize,
    /// Whether `GET /ui` serves the browser page ([`crate::ui`]).
    pub ui: bool,
}

/// What every handler shares.
struct AppState {
    dir: PathBuf,
    writer: Writer,
    /// Recently stored ids: a POSTed record already stored is acknowledged, not rewritten.
    window: Window,
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

/// The answer for an error of the store (not of the request): 503 when the volume is
/// full or read-only on a write (retrying later can work), else 500; the body names the
/// file and what failed on it.
fn store_error(e: &Error, writing: bool) -> ApiError {
    let mut inner = e;
    while let Error::Partial { source, .. }
    | Error::Lost { source, .. }
    | Error::InvalidAt { source, .. } = inner
    {
        inner = source;
    }
    let (path, op, errno) = match inner {
        Error::Io { path, op, source } => (Some(path), Some(*op), source.raw_os_error()),
        Error::Lock { path, source } => (Some(path), Some("lock"), source.raw_os_error()),
        Error::Symlink { path }
        | Error::HardLinked { path, .. }
        | Error::NotRegular { path }
        | Error::Unstable { path, .. } => (Some(path), None, None),
        _ => (None, None, None),
    };
    let unavailable = matches!(inner, Error::Closed)
        || (writing && matches!(errno, Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS)));
    let mut body = json!({ "error": e.to_string() });
    if let Some(path) = path {
        body["path"] = json!(path.to_string_lossy());
    }
    if let Some(op) = op {
        body["op"] = json!(op);
    }
    ApiError {
        status: if unavailable {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        },
        body,
    }
}

/// A 400 about query parameter `name`.
fn bad_param(name: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({ "error": message, "parameter": name }),
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
        .map_err(|source| Error::Start {
            what: "the HTTP server's runtime",
            source,
        })?;
    let clock = store.options().clock.clone();
    let (window, problem) = Window::open(store.dir(), options.dedupe_window, clock.clone());
    if let Some(e) = problem {
        // Writes go on (refusing them would lose more than a duplicate costs); say why
        // retries may be stored twice until the store can be read.
        eprintln!(
            "actlog: warning: cannot read the store to recognise retried records ({e}); until it can be read, only ids this sidecar writes are recognised"
        );
    }
    let state = Arc::new(AppState {
        dir: store.dir().to_path_buf(),
        writer: store.writer(),
        window,
        clock,
        token: options.token.clone(),
        closing: AtomicBool::new(false),
    });
    let listen = options.listen;
    let served: Result<()> = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::io(format!("listen address {listen}"), "bind", e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::io(format!("listen address {listen}"), "bind", e))?;
        // The handlers are in place before anyone is told the address: a SIGTERM sent
        // right after start is a clean shutdown, never the default kill.
        let shutdown = shutdown_signal();
        ready(bound);
        let app = router(state.clone(), options.request_timeout, options.ui);
        serve_connections(listener, app, options, &state, shutdown).await;
        Ok(())
    });
    // Every request has been answered; buffered records go to disk before we exit.
    let flushed = state.writer.flush();
    runtime.shutdown_timeout(Duration::from_secs(5));
    served?;
    flushed
}

/// The most connections served at once: `max` but at most half the file descriptors the
/// process may open, so that day files, the lock and the probe always have some left.
fn connection_cap(max: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes only into the struct we pass.
    let fds = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    max.min(fds / 2).max(1)
}

/// Accepts connections until shutdown and serves each one over HTTP/1.1 with a header
/// timeout (which also closes idle keep-alive connections) and a cap on how many are open,
/// then lets the open ones finish their requests.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    options: &ServeOptions,
    state: &Shared,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let cap = connection_cap(options.max_connections);
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Waiting for a free slot leaves further clients in the kernel's backlog, where
        // they cost this process no file descriptor.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors (or a client that reset before accept): the
                // slow connections being cut frees them, so try again shortly.
                Err(_) => {
                    drop(slot);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(
            hyper_util::rt::TokioIo::new(LenientTarget::new(stream)),
            service,
        );
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.wait_for(|s| *s) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    drop(listener);
    state.closing.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it is done: all slots back means all answered.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(all)).await;
}

/// Where [`LenientTarget`] is in the byte stream of requests.
#[derive(Debug)]
enum Framing {
    /// In a request line, after `spaces` spaces; `started` once a byte other than CR/LF.
    Line { spaces: u8, started: bool },
    /// In the header block; `line` is the header line so far.
    Headers {
        line: Vec<u8>,
        length: u64,
        chunked: bool,
    },
    /// This many body bytes are still to come.
    Body(u64),
    /// Framing the stream cannot follow (chunked, oversized headers): bytes pass as they are.
    Pass,
}

/// A connection whose request lines have bytes that URIs forbid (`<`, `>`, `"`, `{`, ...,
/// non-ASCII) percent-encoded before hyper parses them, so that a query such as
/// `where=details.durationMs>1990` typed into a URL works instead of getting hyper's
/// empty 400. It follows `Content-Length` framing to find each request line and stops
/// rewriting at the first chunked body.
struct LenientTarget<T> {
    inner: T,
    framing: Framing,
    /// Rewritten bytes not yet handed to hyper.
    out: Vec<u8>,
    taken: usize,
}

impl<T> LenientTarget<T> {
    fn new(inner: T) -> Self {
        LenientTarget {
            inner,
            framing: Framing::Line {
                spaces: 0,
                started: false,
            },
            out: Vec::new(),
            taken: 0,
        }
    }

    /// Bytes of a request target that `http::Uri` refuses but a client may send raw.
    fn needs_encoding(b: u8) -> bool {
        !(b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b))
    }

    fn feed(&mut self, bytes: &[u8]) {
        /// A header line longer than this: hyper refuses the request anyway.
        const MAX_LINE: usize = 64 * 1024;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match &mut self.framing {
                Framing::Line { spaces, started } => {
                    i += 1;
                    if !*started && (b == b'\r' || b == b'\n') {
                        self.out.push(b);
                        continue;
                    }
                    *started = true;
                    match b {
                        b'\n' => {
                            self.out.push(b);
                            self.framing = Framing::Headers {
                                line: Vec::new(),
                                length: 0,
                                chunked: false,
                            };
                        }
                        b' ' => {
                            *spaces = spaces.saturating_add(1);
                            self.out.push(b);
                        }
                        b'\r' => self.out.push(b),
                        _ if *spaces == 1 && Self::needs_encoding(b) => {
                            self.out.extend_from_slice(format!("%{b:02X}").as_bytes());
                        }
                        _ => self.out.push(b),
                    }
                }
                Framing::Headers {
                    line,
                    length,
                    chunked,
                } => {
                    i += 1;
                    self.out.push(b);
                    if b != b'\n' {
                        line.push(b);
                        if line.len() > MAX_LINE {
                            self.framing = Framing::Pass;
                        }
                        continue;
                    }
                    let text = line.trim_ascii();
                    if text.is_empty() {
                        self.framing = if *chunked {
                            Framing::Pass
                        } else if *length == 0 {
                            Framing::Line {
                                spaces: 0,
                                started: false,
                            }
                        } else {
                            Framing::Body(*length)
                        };
                        continue;
                    }
                    if let Some(colon) = text.iter().position(|&c| c == b':') {
                        let (name, value) = (&text[..colon], text[colon + 1..].trim_ascii());
                        if name.eq_ignore_ascii_case(b"content-length") {
                            match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                                Some(n) => *length = n,
                                // hyper refuses it; nothing after it can be followed.
                                None => *chunked = true,
                            }
                        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                            *chunked = true;
                        }
                    }
                    line.clear();
                }
                Framing::Body(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    self.out.extend_from_slice(&bytes[i..i + n]);
                    i += n;
                    *left -= n as u64;
                    if *left == 0 {
                        self.framing = Framing::Line {
                            spaces: 0,
                            started: false,
                        };
                    }
                }
                Framing::Pass => {
                    self.out.extend_from_slice(&bytes[i..]);
                    i = bytes.len();
                }
            }
        }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for LenientTarget<T> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.taken == this.out.len() {
            this.out.clear();
            this.taken = 0;
            let mut raw = [0u8; 8192];
            let mut raw_buf = tokio::io::ReadBuf::new(&mut raw);
            std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut raw_buf))?;
            let filled = raw_buf.filled();
            if filled.is_empty() {
                return std::task::Poll::Ready(Ok(()));
            }
            let filled = filled.to_vec();
            this.feed(&filled);
        }
        let n = (this.out.len() - this.taken).min(buf.remaining());
        buf.put_slice(&this.out[this.taken..this.taken + n]);
        this.taken += n;
        std::task::Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for LenientTarget<T> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Installs the SIGTERM and SIGINT handlers now (not when first polled) and returns a
/// future that ends at the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
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
}

fn router(state: Shared, timeout: Duration, ui: bool) -> Router {
    let api = Router::new()
        .route("/v1/activity", post(post_activity).get(get_activity))
        .route("/v1/activity/histogram", get(get_histogram))
        .route("/v1/stats", get(get_stats))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // A stream lasts as long as its client wants: no timeout.
        .route("/v1/activity/stream", get(get_stream))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(api);
    if ui {
        app = app.merge(crate::ui::routes());
    }
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Whatever answers an error without a body (a timeout, a rejection) gets one.
        .layer(middleware::map_response(json_error_body))
        // Every answer, the page's and the API's: nothing may be sniffed into another
        // type, framed, or load anything from elsewhere.
        .layer(middleware::map_response(crate::ui::security_headers))
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
        .and_then(|v| bearer_token(v.as_bytes()))
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

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// and may be followed by several spaces (RFC 9110, section 11.1).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| rest.trim_ascii())
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

/// Bytes the readiness probe writes: one page, what the smallest record append needs when
/// a day file's last block is full.
const PROBE_BYTES: usize = 4096;

/// The directory takes a file opened for writing, a lock on it, and a write of
/// [`PROBE_BYTES`] (so a full or read-only volume is "not ready" as POSTs would find).
fn check_ready(dir: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(".readyz.lock");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .custom_flags(actlog_core::dayfile::OPEN_FLAGS)
        .open(&path)
        .map_err(|e| Error::io(&path, "open for writing", e))?;
    match file.try_lock() {
        // Another pod checking at the same moment holds it: locks work.
        Ok(()) | Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(source)) => return Err(Error::Lock { path, source }),
    }
    let probe = [b'\n'; PROBE_BYTES];
    let written = (&file).write_all(&probe).and_then(|()| file.sync_data());
    // The space is given back whether or not the write fitted.
    let emptied = file.set_len(0);
    written.map_err(|e| Error::io(&path, "write a readiness probe to", e))?;
    emptied.map_err(|e| Error::io(&path, "truncate", e))
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

/// Gives a JSON body to an error answer that has none (408 from the timeout layer,
/// an extractor's plain-text rejection).
async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_owned();
    if message.is_empty() {
        message = match status {
            StatusCode::REQUEST_TIMEOUT => {
                "the request took longer than the server's request timeout".into()
            }
            s => s.canonical_reason().unwrap_or("error").to_lowercase(),
        };
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json!({ "error": message }).to_string()))
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
    match tokio::task::spawn_blocking(move || actlog_read::stats::stats(&dir)).await {
        Ok(Ok(stats)) => axum::Json(stats).into_response(),
        Ok(Err(e)) => store_error(&e, false).into_response(),
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
    if !is_json(headers.get(header::CONTENT_TYPE)) {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            body: json!({
                "error": "the body must be sent with Content-Type: application/json",
                "header": "content-type",
            }),
        });
    }
    // Refused before reading (and before `100 Continue`): the client need not send it.
    if let Some(length) = headers.get(header::CONTENT_LENGTH)
        && length
            .to_str()
            .ok()
            .and_then(|l| l.parse::<u64>().ok())
            .is_none_or(|l| l > MAX_BODY_BYTES as u64)
    {
        // A client that waits for `100 Continue` sends nothing more; one that is already
        // sending its body gets it read and dropped, so that it can read this answer
        // instead of a reset connection.
        let waits = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !waits {
            tokio::spawn(drain(body));
        }
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: json!({
                "error": format!("Content-Length {:?} is over {MAX_BODY_BYTES} bytes; send fewer records per request", String::from_utf8_lossy(length.as_bytes())),
                "header": "content-length",
            }),
        });
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
    let written = tokio::task::spawn_blocking(move || {
        writer_state
            .window
            .append(&writer_state.writer, &activities)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the write failed"))?;
    match written {
        Ok(acked) => {
            // A record stored before gets the same answer as when it was written, so a
            // retry cannot tell (and need not care) which attempt stored it.
            let records: Vec<Value> = acked
                .iter()
                .map(
                    |a| json!({"id": a.stamp.id, "timestamp": format_timestamp(a.stamp.timestamp)}),
                )
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
            let mut answer = store_error(&e, true);
            answer.body["written"] = json!(e.written());
            if let Error::Partial { .. } = e {
                answer.body["hint"] = json!("resend only the records after the first `written`");
            }
            Err(answer)
        }
    }
}

/// Reads and drops a refused request body, for at most a bounded size and time.
async fn drain(body: Body) {
    use tokio_stream::StreamExt;
    const MOST: usize = 64 << 20;
    let mut stream = body.into_data_stream();
    let mut read = 0;
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len();
            if read > MOST {
                break;
            }
        }
    })
    .await;
}

/// Whether a `Content-Type` is `application/json`, with any parameters
/// (`; charset=utf-8`), in any letter case.
fn is_json(kind: Option<&header::HeaderValue>) -> bool {
    let Some(kind) = kind else {
        return false;
    };
    let essence = kind
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
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
    /// `buckets` of the histogram (taken only where `limit` is not).
    buckets: Option<String>,
}

/// Which route's query string [`params`] reads: each takes the filters, and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `GET /v1/activity`: `limit`, `cursor`, `order`.
    Page,
    /// `GET /v1/activity/stream`.
    Stream,
    /// `GET /v1/activity/histogram`: `buckets`.
    Histogram,
}

fn params(raw: Option<&str>, route: Route) -> std::result::Result<Params, ApiError> {
    let paged = route == Route::Page;
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
            "buckets" if route == Route::Histogram => p.buckets = Some(value),
            other => {
                return Err(bad_param(
                    other,
                    format!("unknown query parameter {other:?}"),
                ));
            }
        }
    }
    Ok(p)
}

fn filter(state: &AppState, spec: &FilterSpec) -> std::result::Result<Filter, ApiError> {
    // The filter's words are the command line's (`--since "x": ...`); a client sent
    // query parameters, so the answer names those.
    Filter::new(spec, state.clock.now()).map_err(|e| {
        let message = e.to_string();
        match message
            .strip_prefix("--")
            .and_then(|rest| rest.split_once(' '))
        {
            // The problem may name the other end of a range (`--until`) too.
            Some((flag, rest)) => bad_param(
                flag,
                format!(
                    "{flag} {}",
                    rest.replace("--until ", "until ")
                        .replace("--since ", "since ")
                ),
            ),
            None => ApiError::new(StatusCode::BAD_REQUEST, message),
        }
    })
}

/// `GET /v1/activity`: a page of matching records, newest first.
async fn get_activity(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    match query_page(state, raw.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn query_page(state: Shared, raw: Option<&str>) -> std::result::Result<Response, ApiError> {
    let p = params(raw, Route::Page)?;
    let filter = filter(&state, &p.spec)?;
    let limit = match &p.limit {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                bad_param("limit", format!("limit {text:?}: expected 1 to {MAX_PAGE}"))
            })?,
    };
    let oldest_first = match p.order.as_deref() {
        None | Some("newest") => false,
        Some("oldest") => true,
        Some(other) => {
            return Err(bad_param(
                "order",
                format!("order {other:?}: expected newest or oldest"),
            ));
        }
    };
    let cursor = match &p.cursor {
        None => None,
        Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
            let why = if text.starts_with(&format!("{}.", page::OLD_CURSOR_VERSION)) {
                "a cursor from an older version of actlog, which this one no longer takes; start again without a cursor"
            } else {
                "not a cursor this server handed out"
            };
            bad_param("cursor", format!("cursor {text:?}: {why}"))
        })?),
    };
    let dir = state.dir.clone();
    let page =
        tokio::task::spawn_blocking(move || page::page(&dir, &filter, oldest_first, limit, cursor))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the query failed"))?
            .map_err(|e| store_error(&e, false))?;
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

/// `GET /v1/activity/histogram`: matching records per time bucket.
async fn get_histogram(State(state): State<Shared>, RawQuery(raw): RawQuery) -> Response {
    match histogram_answer(state, raw.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Buckets of a histogram unless `buckets` says otherwise.
pub const DEFAULT_BUCKETS: usize = 60;

async fn histogram_answer(
    state: Shared,
    raw: Option<&str>,
) -> std::result::Result<Response, ApiError> {
    use actlog_read::histogram::{self, MAX_BUCKETS};
    let p = params(raw, Route::Histogram)?;
    let filter = filter(&state, &p.spec)?;
    let buckets = match &p.buckets {
        None => DEFAULT_BUCKETS,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BUCKETS).contains(n))
            .ok_or_else(|| {
                bad_param(
                    "buckets",
                    format!("buckets {text:?}: expected 1 to {MAX_BUCKETS}"),
                )
            })?,
    };
    let dir = state.dir.clone();
    let now = state.clock.now();
    let h = tokio::task::spawn_blocking(move || {
        let (since, until) = histogram::range(&dir, &filter, now)?;
        histogram::histogram(&dir, &filter, since, until, buckets)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the histogram failed"))?
    .map_err(|e| store_error(&e, false))?;
    let buckets: Vec<Value> = h
        .buckets
        .iter()
        .map(|b| {
            json!({
                "start": format_timestamp(b.start),
                "end": format_timestamp(b.end),
                "count": b.count,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "since": format_timestamp(h.since),
        "until": format_timestamp(h.until),
        "bucket_ms": h.bucket_ms,
        "total": h.total(),
        "damaged": h.damaged,
        "buckets": buckets,
    }))
    .into_response())
}

/// The header a reconnecting event-stream client sends with the `id` of the last event
/// it received.
const LAST_EVENT_ID: &str = "last-event-id";

/// The cursor of a `Last-Event-ID` header, if one is given (an empty one is none, as an
/// `EventSource` that has received no id sends).
fn last_event_id(headers: &HeaderMap) -> std::result::Result<Option<Cursor>, ApiError> {
    let Some(value) = headers.get(LAST_EVENT_ID) else {
        return Ok(None);
    };
    let bad = |why: &str| ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "error": format!("Last-Event-ID {:?}: {why}", String::from_utf8_lossy(value.as_bytes())),
            "header": LAST_EVENT_ID,
        }),
    };
    let text = value
        .to_str()
        .map_err(|_| bad("not a cursor this server handed out"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    Cursor::decode(text).map(Some).ok_or_else(|| {
        bad("not an event id this server handed out; reconnect without it to start from now")
    })
}

/// `GET /v1/activity/stream`: server-sent events, one per new matching record, from now
/// on (or, with `Last-Event-ID`, from right after that event), across day rollover and
/// maintenance. Each event's `id` is its record's cursor.
async fn get_stream(
    State(state): State<Shared>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match params(raw.as_deref(), Route::Stream) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let filter = match filter(&state, &p.spec) {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let after = match last_event_id(&headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    // Following starts before the answer: a record stored once the client has its 200 is
    // sent, however long the catching up takes.
    let resumable = match Resumable::start(&state.dir, filter) {
        Ok(r) => r,
        Err(e) => return store_error(&e, false).into_response(),
    };
    let (tx, rx) =
        tokio::sync::mpsc::channel::<std::result::Result<Event, std::convert::Infallible>>(256);
    std::thread::spawn(move || follow(&state, resumable, after, &tx));
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Feeds one stream until its client goes away or the server shuts down: first what was
/// stored after `after`, then each record as it comes.
fn follow(
    state: &AppState,
    mut resumable: Resumable,
    after: Option<Cursor>,
    tx: &tokio::sync::mpsc::Sender<std::result::Result<Event, std::convert::Infallible>>,
) {
    let mut send = |line: &[u8], _: &actlog_core::record::Record, cursor: Cursor| {
        // A long catching up stops at shutdown too.
        if state.closing.load(Ordering::SeqCst) {
            return std::ops::ControlFlow::Break(());
        }
        let event = Event::default()
            .id(cursor.encode())
            .event("activity")
            .data(String::from_utf8_lossy(line));
        match tx.blocking_send(Ok(event)) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(_) => std::ops::ControlFlow::Break(()),
        }
    };
    // Watching begins before catching up, so an append meanwhile wakes the first wait.
    let mut waiter = Waiter::new(&state.dir, None);
    if let Some(cursor) = after {
        match resumable.resume_after(cursor, &mut send) {
            Ok((flow, _)) if flow.is_continue() => {}
            _ => return,
        }
    }
    while !tx.is_closed() && !state.closing.load(Ordering::SeqCst) {
        match resumable.read_new(&mut send) {
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

    #[test]
    fn store_errors_are_5xx_naming_the_file_and_only_a_full_or_read_only_volume_on_a_write_is_503()
    {
        let io = |errno| {
            Error::io(
                "/logs/activity-2026-11-24.json",
                "read",
                std::io::Error::from_raw_os_error(errno),
            )
        };
        let e = store_error(&io(libc::EACCES), false);
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body["path"], "/logs/activity-2026-11-24.json");
        assert_eq!(e.body["op"], "read");
        assert_eq!(
            store_error(&io(libc::EIO), true).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            store_error(&io(libc::ENOSPC), false).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        for errno in [libc::ENOSPC, libc::EROFS, libc::EDQUOT] {
            let partial = Error::Partial {
                written: 3,
                total: 5,
                source: Box::new(io(errno)),
            };
            let e = store_error(&partial, true);
            assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE, "{errno}");
            assert_eq!(e.body["path"], "/logs/activity-2026-11-24.json");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_the_token_exact() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"BEARER   abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }

    #[test]
    fn only_request_targets_are_encoded_and_bodies_pass_untouched() {
        let mut t = LenientTarget::new(());
        let input = b"\r\nPOST /v1/activity?x=<1> HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\">1}GET /v1?w=a>\xc3\xbc HTTP/1.1\r\nHost: x\r\n\r\n";
        // Fed a byte at a time, as a slow client would send it.
        for b in input {
            t.feed(std::slice::from_ref(b));
        }
        assert_eq!(
            String::from_utf8_lossy(&t.out),
            "\r\nPOST /v1/activity?x=%3C1%3E HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\">1}GET /v1?w=a%3E%C3%BC HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let mut t = LenientTarget::new(());
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n<>x\r\n0\r\n\r\nGET /a> HTTP/1.1\r\n";
        t.feed(chunked);
        assert_eq!(t.out, chunked);
    }
}
