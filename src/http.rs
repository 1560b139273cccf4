//! The HTTP endpoint of `ratewire run` (`http.listen`): `GET /metrics`,
//! `GET /healthz`, `GET /readyz` and `POST /admin/reload`, described in
//! `docs/metrics.md`.
//!
//! A small synchronous server on one thread: one connection at a time,
//! every request bounded in size and time, `Connection: close` on every
//! answer. It stops when the pipeline does. The endpoint observes the
//! pipeline and never stops it: if the address is taken, the server logs it
//! and tries again every [`BIND_RETRY_MS`] while rating goes on.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use ratewire_ingest::metrics::TEXT_CONTENT_TYPE;
use ratewire_ingest::{Metrics, ReadyCheck, ReferenceHandle};
use subtle::ConstantTimeEq;

/// How often the idle server looks at the stop flag, in milliseconds.
const ACCEPT_POLL_MS: u64 = 50;
/// How long a client has to send its whole request, in milliseconds.
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How long writing an answer may take, in milliseconds.
const WRITE_TIMEOUT_MS: u64 = 5_000;
/// Largest request line and headers, in bytes.
const HEAD_BYTES_MAX: usize = 8 * 1024;
/// Most headers in a request.
const HEADERS_MAX: usize = 48;
/// Largest request body, in bytes (no endpoint reads one; it is discarded).
const BODY_BYTES_MAX: usize = 4 * 1024;
/// After answering, how long to wait for the client to close, in
/// milliseconds, and how many bytes it may still send meanwhile: closing
/// on unread bytes would reset the connection before the client reads the
/// answer.
const LINGER_MS: u64 = 200;
const LINGER_BYTES_MAX: usize = 64 * 1024;
/// How long to wait before binding again when the address is taken, in
/// milliseconds.
pub const BIND_RETRY_MS: u64 = 5_000;

/// The bearer token of `POST /admin/reload`, read once from the
/// environment variable `http.reload_token_env` names. Never printed.
pub enum Token {
    /// The variable is not set (or empty): the endpoint answers 403.
    Disabled {
        /// The variable's name.
        var: String,
    },
    /// Requests must carry `Authorization: Bearer <token>`.
    Bearer(String),
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Disabled { var } => write!(f, "Token::Disabled({var})"),
            Self::Bearer(_) => f.write_str("Token::Bearer(********)"),
        }
    }
}

/// What a request's `Authorization` header is worth.
#[derive(Debug, PartialEq, Eq)]
enum Auth {
    /// No token configured.
    Disabled,
    /// No header, another scheme, or a wrong token.
    Refused,
    /// The right token.
    Granted,
}

impl Token {
    /// The token in the variable `var`, if set and not empty.
    pub fn from_env(var: &str) -> Self {
        match std::env::var(var) {
            Ok(token) if !token.is_empty() => Self::Bearer(token),
            _ => Self::Disabled { var: var.to_string() },
        }
    }

    /// Checks an `Authorization` header value. The comparison takes the
    /// same time whatever bytes differ (only the length may show).
    fn check(&self, authorization: Option<&[u8]>) -> Auth {
        let Self::Bearer(token) = self else { return Auth::Disabled };
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else { return Auth::Refused };
        let Some((scheme, given)) = value.trim().split_once(' ') else { return Auth::Refused };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Auth::Refused;
        }
        if bool::from(token.as_bytes().ct_eq(given.trim().as_bytes())) { Auth::Granted } else { Auth::Refused }
    }
}

/// What the endpoints answer from.
#[derive(Debug)]
pub struct Endpoint<'a> {
    /// The pipeline's metrics and readiness state.
    pub metrics: &'a Metrics,
    /// The catalog and accounts in force, for the reload.
    pub reference: &'a ReferenceHandle,
    /// What `/readyz` checks.
    pub ready: ReadyCheck,
    /// The reload endpoint's token.
    pub token: Token,
}

/// Binds `listen`, retrying every [`BIND_RETRY_MS`] while it fails, then
/// serves until `done`.
pub fn run(listen: SocketAddr, endpoint: &Endpoint<'_>, done: &AtomicBool) {
    let mut last_error: Option<ErrorKind> = None;
    let listener = loop {
        if done.load(Ordering::Relaxed) {
            return;
        }
        match TcpListener::bind(listen) {
            Ok(listener) => break listener,
            Err(e) => {
                // Said once per kind of failure, not every retry.
                if last_error != Some(e.kind()) {
                    error!("http: cannot listen on {listen}: {e}; rating goes on, retrying every {BIND_RETRY_MS} ms");
                    last_error = Some(e.kind());
                }
                let until = Instant::now() + Duration::from_millis(BIND_RETRY_MS);
                while Instant::now() < until && !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
                }
            }
        }
    };
    serve(&listener, endpoint, done);
}

/// Serves requests on `listener` until `done`.
pub fn serve(listener: &TcpListener, endpoint: &Endpoint<'_>, done: &AtomicBool) {
    match listener.local_addr() {
        Ok(addr) => info!("http: /metrics, /healthz, /readyz and POST /admin/reload on http://{addr}"),
        Err(e) => warn!("http: the listening address: {e}"),
    }
    if let Err(e) = listener.set_nonblocking(true) {
        error!("http: {e}; the endpoint is off");
        return;
    }
    while !done.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => handle(stream, peer, endpoint),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS)),
            Err(e) => {
                // Out of file descriptors and the like: pause, try again.
                warn!("http: accepting a connection: {e}");
                std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
            }
        }
    }
}

/// The parts of a request the endpoints look at.
struct Request {
    method: String,
    path: String,
    /// The `Authorization` header's value: compared, never logged.
    authorization: Option<Vec<u8>>,
}

/// An answer.
#[derive(Debug)]
struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self { status, content_type: "text/plain; charset=utf-8", headers: Vec::new(), body: body.into() }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

fn handle(mut stream: TcpStream, peer: SocketAddr, endpoint: &Endpoint<'_>) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_millis(WRITE_TIMEOUT_MS))));
    if let Err(e) = setup {
        warn!("http: {peer}: {e}");
        return;
    }
    let (response, head_only) = match read_request(&mut stream) {
        Ok(request) => (route(&request, endpoint, peer), request.method == "HEAD"),
        Err(Some(response)) => (response, false),
        // The client went away or sent nothing in time: nothing to answer.
        Err(None) => return,
    };
    if let Err(e) = write_response(&mut stream, &response, head_only) {
        warn!("http: answering {peer}: {e}");
        return;
    }
    linger(&mut stream);
}

/// Closes our side, then reads (and drops) what the client still sends
/// until it closes, within [`LINGER_MS`] and [`LINGER_BYTES_MAX`].
fn linger(stream: &mut TcpStream) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(LINGER_MS);
    let mut chunk = [0u8; 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Reads one request within [`REQUEST_TIMEOUT_MS`]; `Err(Some(answer))`
/// for a request refused, `Err(None)` when there is no one to answer.
fn read_request(stream: &mut TcpStream) -> Result<Request, Option<Response>> {
    let deadline = Instant::now() + Duration::from_millis(REQUEST_TIMEOUT_MS);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (request, head_len, content_length) = loop {
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let header = |name: &str| parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name));
                if header("transfer-encoding").is_some() {
                    return Err(Some(Response::text(411, "request bodies must have a Content-Length\n")));
                }
                let content_length = match header("content-length") {
                    None => 0,
                    Some(h) => match std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok()) {
                        Some(n) => n,
                        None => return Err(Some(Response::text(400, "Content-Length is not a number\n"))),
                    },
                };
                if content_length > BODY_BYTES_MAX {
                    return Err(Some(Response::text(
                        413,
                        format!("request bodies are at most {BODY_BYTES_MAX} bytes\n"),
                    )));
                }
                let request = Request {
                    method: parsed.method.unwrap_or_default().to_string(),
                    path: parsed.path.unwrap_or_default().to_string(),
                    authorization: header("authorization").map(|h| h.value.to_vec()),
                };
                break (request, head_len, content_length);
            }
            Ok(httparse::Status::Partial) if buf.len() >= HEAD_BYTES_MAX => {
                return Err(Some(Response::text(431, format!("request heads are at most {HEAD_BYTES_MAX} bytes\n"))));
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Some(Response::text(431, format!("requests have at most {HEADERS_MAX} headers\n"))));
            }
            Err(e) => return Err(Some(Response::text(400, format!("not an HTTP request: {e}\n")))),
        }
        let n = read_some(stream, &mut chunk, deadline)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    // The body is read (so that the client sees the answer) and dropped.
    let mut body = buf.len() - head_len;
    while body < content_length {
        body += read_some(stream, &mut chunk, deadline)?;
    }
    Ok(request)
}

/// Reads what has arrived, waiting until `deadline` at most.
fn read_some(stream: &mut TcpStream, chunk: &mut [u8], deadline: Instant) -> Result<usize, Option<Response>> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Some(Response::text(408, "request not received in time\n")));
    }
    stream.set_read_timeout(Some(left)).map_err(|_| None)?;
    match stream.read(chunk) {
        Ok(0) => Err(None),
        Ok(n) => Ok(n),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(Some(Response::text(408, "request not received in time\n")))
        }
        Err(_) => Err(None),
    }
}

fn write_response(stream: &mut TcpStream, response: &Response, head_only: bool) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(response.body.as_bytes())?;
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn route(request: &Request, endpoint: &Endpoint<'_>, peer: SocketAddr) -> Response {
    let path = request.path.split_once('?').map_or(request.path.as_str(), |(path, _)| path);
    let method = request.method.as_str();
    let read = matches!(method, "GET" | "HEAD");
    match path {
        "/metrics" if read => match endpoint.metrics.render() {
            Ok(text) => Response { status: 200, content_type: TEXT_CONTENT_TYPE, headers: Vec::new(), body: text },
            Err(e) => Response::text(500, format!("{e}\n")),
        },
        "/healthz" if read => Response::text(200, "ok\n"),
        "/readyz" if read => {
            let reasons = endpoint.metrics.not_ready(&endpoint.ready);
            if reasons.is_empty() {
                Response::text(200, "ready\n")
            } else {
                Response::text(503, format!("not ready\n{}\n", reasons.join("\n")))
            }
        }
        "/admin/reload" if method == "POST" => reload(request, endpoint, peer),
        "/metrics" | "/healthz" | "/readyz" => {
            Response::text(405, format!("{path} answers GET\n")).with_header("Allow", "GET, HEAD")
        }
        "/admin/reload" => Response::text(405, "/admin/reload answers POST\n").with_header("Allow", "POST"),
        _ => Response::text(404, "not found: the endpoints are /metrics, /healthz, /readyz and POST /admin/reload\n"),
    }
}

fn reload(request: &Request, endpoint: &Endpoint<'_>, peer: SocketAddr) -> Response {
    match endpoint.token.check(request.authorization.as_deref()) {
        Auth::Disabled => {
            let var = match &endpoint.token {
                Token::Disabled { var } => var.as_str(),
                Token::Bearer(_) => "",
            };
            Response::text(403, format!("reload endpoint disabled: set ${var}\n"))
        }
        Auth::Refused => {
            warn!("http: POST /admin/reload from {peer} refused: missing or wrong bearer token");
            Response::text(401, "a bearer token is required: Authorization: Bearer <token>\n")
                .with_header("WWW-Authenticate", "Bearer")
        }
        Auth::Granted => {
            let cause = format!("POST /admin/reload from {peer}");
            match crate::run::reload(endpoint.reference, endpoint.metrics, &cause) {
                Ok(version) => Response::text(200, format!("reloaded: catalog version {version} in force\n")),
                Err(ratewire_ingest::Error::Reference(problems)) => {
                    let running = endpoint.reference.load().tables.version;
                    Response::text(
                        422,
                        format!("reload refused; catalog version {running} stays in force:\n{problems}\n"),
                    )
                }
                Err(e) => Response::text(500, format!("reload failed: {e}\n")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_token_is_compared_whole_and_only_as_a_bearer_token() {
        let token = Token::Bearer("s3cret-token".into());
        assert_eq!(token.check(Some(b"Bearer s3cret-token")), Auth::Granted);
        assert_eq!(token.check(Some(b"bearer  s3cret-token ")), Auth::Granted);
        for refused in [
            &b"Bearer s3cret-tokeN"[..],
            b"Bearer s3cret-token2",
            b"Bearer s3cret",
            b"Bearer ",
            b"Basic s3cret-token",
            b"s3cret-token",
            b"",
            b"Bearer \xff",
        ] {
            assert_eq!(token.check(Some(refused)), Auth::Refused, "{}", String::from_utf8_lossy(refused));
        }
        assert_eq!(token.check(None), Auth::Refused);
        let disabled = Token::Disabled { var: "RATEWIRE_RELOAD_TOKEN".into() };
        assert_eq!(disabled.check(Some(b"Bearer anything")), Auth::Disabled);
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn an_unset_or_empty_variable_disables_the_reload() {
        // A name no environment sets.
        let token = Token::from_env("RATEWIRE_TEST_TOKEN_THAT_IS_NEVER_SET_6c1f");
        assert!(matches!(token, Token::Disabled { var } if var == "RATEWIRE_TEST_TOKEN_THAT_IS_NEVER_SET_6c1f"));
    }

    /// A reference over copies of the example files, and the catalog's path.
    fn reference(dir: &Path) -> (ReferenceHandle, std::path::PathBuf) {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
        let (catalog, accounts) = (dir.join("catalog.toml"), dir.join("accounts.csv"));
        std::fs::copy(examples.join("catalog.toml"), &catalog).unwrap();
        std::fs::copy(examples.join("accounts.csv"), &accounts).unwrap();
        (ReferenceHandle::open(&catalog, &accounts).unwrap(), catalog)
    }

    /// The example catalog (`text`, at version 2026-11-a) as version 2026-11-c
    /// with a misspelt field, and the line of the misspelling.
    fn broken_catalog(text: &str) -> (String, usize) {
        let broken = text.replace("version = \"2026-11-a\"", "version = \"2026-11-c\"").replacen(
            "unit = \"message\"",
            "unit = \"message\"\nunits = \"typo\"",
            1,
        );
        let at = broken.find("units = ").unwrap();
        let line = broken[..at].lines().count() + 1;
        (broken, line)
    }

    /// Sends `raw` and returns the status and the body.
    fn send(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// Runs a server with `token` over a fresh reference and calls `check`
    /// with its address and the catalog's path.
    fn with_server(token: Token, check: impl FnOnce(SocketAddr, &Path, &Metrics)) {
        let dir = tempfile::tempdir().unwrap();
        let (reference, catalog) = reference(dir.path());
        let reference = Arc::new(reference);
        let metrics = Metrics::new().unwrap();
        metrics.watch_catalog(reference.clone());
        let endpoint = Endpoint {
            metrics: &metrics,
            reference: &reference,
            ready: ReadyCheck { lag_max_messages: 10, ledger_dir: dir.path().to_path_buf() },
            token,
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let done = AtomicBool::new(false);
        /// Stops the server even when a check panics, or the scope would
        /// wait for it forever.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        std::thread::scope(|scope| {
            scope.spawn(|| serve(&listener, &endpoint, &done));
            let _stop = Stop(&done);
            check(addr, &catalog, &metrics);
        });
    }

    #[test]
    fn the_endpoints_answer_with_their_status_codes() {
        with_server(Token::Bearer("t0ken".into()), |addr, catalog, _| {
            let (status, body) = send(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!((status, body.as_str()), (200, "ok\n"));
            let (status, body) = send(addr, b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n");
            assert_eq!(status, 200);
            assert!(body.contains("ratewire_catalog_info{version=\"2026-11-a\"} 1"), "{body}");
            let (status, body) = send(addr, b"GET /readyz?verbose HTTP/1.0\r\n\r\n");
            assert_eq!(status, 503);
            assert!(
                body.starts_with("not ready\n") && body.contains("\nbroker: ") && body.contains("\nlag: "),
                "{body}"
            );
            assert_eq!(send(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n"), (200, String::new()));
            assert_eq!(send(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").0, 405);
            assert_eq!(send(addr, b"GET /admin/reload HTTP/1.1\r\n\r\n").0, 405);
            assert_eq!(send(addr, b"GET /nothing HTTP/1.1\r\n\r\n").0, 404);
            assert_eq!(send(addr, b"NOT HTTP\r\n\r\n").0, 400);
            let many = format!("GET /healthz HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(HEADERS_MAX + 1));
            assert_eq!(send(addr, many.as_bytes()).0, 431);
            let long = format!("GET /healthz HTTP/1.1\r\nX-A: {}\r\n\r\n", "a".repeat(HEAD_BYTES_MAX));
            assert_eq!(send(addr, long.as_bytes()).0, 431);
            let big = format!("POST /admin/reload HTTP/1.1\r\nContent-Length: {}\r\n\r\n", BODY_BYTES_MAX + 1);
            assert_eq!(send(addr, big.as_bytes()).0, 413);
            let chunked = b"POST /admin/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
            assert_eq!(send(addr, chunked).0, 411);

            // The reload: a token is needed; a good catalog is applied, a
            // broken one refused with its line-level messages.
            let (status, _) = send(addr, b"POST /admin/reload HTTP/1.1\r\n\r\n");
            assert_eq!(status, 401);
            let (status, _) = send(addr, b"POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer t0ke\r\n\r\n");
            assert_eq!(status, 401);
            let text = std::fs::read_to_string(catalog).unwrap();
            std::fs::write(catalog, text.replace("version = \"2026-11-a\"", "version = \"2026-11-b\"")).unwrap();
            let authorized =
                b"POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer t0ken\r\nContent-Length: 2\r\n\r\n{}";
            let (status, body) = send(addr, authorized);
            assert_eq!((status, body.as_str()), (200, "reloaded: catalog version 2026-11-b in force\n"));
            let (broken, line) = broken_catalog(&text);
            std::fs::write(catalog, broken).unwrap();
            let (status, body) = send(addr, authorized);
            assert_eq!(status, 422, "{body}");
            assert!(body.starts_with("reload refused; catalog version 2026-11-b stays in force:\n"), "{body}");
            assert!(
                body.contains(&format!("catalog.toml:{line}:1: unknown field `units`")),
                "line-level messages: {body}"
            );
            let (_, metrics) = send(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
            assert!(metrics.contains("ratewire_catalog_info{version=\"2026-11-b\"} 1"), "{metrics}");
            assert!(metrics.contains("ratewire_catalog_reloads_total{result=\"applied\"} 1"), "{metrics}");
            assert!(metrics.contains("ratewire_catalog_reloads_total{result=\"refused\"} 1"), "{metrics}");
        });
    }

    #[test]
    fn without_a_token_the_reload_is_disabled() {
        with_server(Token::Disabled { var: "RELOAD_TOKEN_X".into() }, |addr, _, _| {
            let (status, body) = send(addr, b"POST /admin/reload HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n");
            assert_eq!((status, body.as_str()), (403, "reload endpoint disabled: set $RELOAD_TOKEN_X\n"));
        });
    }

    #[test]
    fn a_silent_client_is_dropped_in_bounded_time() {
        with_server(Token::Disabled { var: "T".into() }, |addr, _, _| {
            let started = Instant::now();
            let (status, _) = send(addr, b"GET /healthz HTTP/1.1\r\n");
            assert_eq!(status, 408);
            assert!(started.elapsed() < Duration::from_millis(REQUEST_TIMEOUT_MS + 3_000));
            // And the server serves the next one.
            assert_eq!(send(addr, b"GET /healthz HTTP/1.1\r\n\r\n").0, 200);
        });
    }
}
