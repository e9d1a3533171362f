//! The loopback HTTP/1.1 server: accept loop, per-connection tasks, request recording and reply scripting.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::reply::{Reply, ReplyBody};

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync + 'static>;

/// One request as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The request method, e.g. `POST`.
    pub method: String,
    /// Path and query exactly as sent, e.g. `/v1/chat/completions?api-version=2024-10-21`.
    pub path: String,
    /// Headers in arrival order; names lowercase, values decoded as lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// The complete request body.
    pub body: Bytes,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "testkit: request body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// The reply played when nothing else is scripted.
fn initial_default() -> Reply {
    Reply::json(
        500,
        serde_json::json!({"error": {"message": "testkit: no reply scripted", "type": "testkit"}}),
    )
}

/// Scripting state, behind one short-lived lock per request (never held while a body is written).
struct Script {
    queue: VecDeque<Reply>,
    default: Reply,
    handler: Option<Handler>,
    requests: Vec<Recorded>,
}

/// State shared by the handles and the server tasks.
struct Shared {
    script: Mutex<Script>,
    recording: AtomicBool,
    connections: AtomicUsize,
    open: AtomicUsize,
    requests: AtomicUsize,
}

/// Counts a connection as open for as long as its task lives.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        // A panicking user handler must not disable the server for the rest of the test.
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `rec` and picks its reply: the queue first, then the handler, then the default.
    fn next_reply(&self, rec: Recorded) -> Reply {
        let recording = self.recording.load(Ordering::Relaxed);
        let handler = {
            let mut script = self.script();
            self.requests.fetch_add(1, Ordering::Relaxed);
            let queued = script.queue.pop_front();
            let handler = match queued {
                Some(reply) => {
                    if recording {
                        script.requests.push(rec);
                    }
                    return reply;
                }
                None => match &script.handler {
                    Some(h) => h.clone(),
                    None => {
                        let reply = script.default.clone();
                        if recording {
                            script.requests.push(rec);
                        }
                        return reply;
                    }
                },
            };
            if recording {
                script.requests.push(rec.clone());
            }
            handler
        };
        // The handler runs outside the lock so a slow handler never serialises other connections.
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler(&rec))) {
            Ok(reply) => reply,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Reply::json(
                    500,
                    serde_json::json!({"error": {
                        "message": format!("testkit: handler panicked: {msg}"),
                        "type": "testkit"
                    }}),
                )
            }
        }
    }
}

/// Owned by the [`Upstream`] handles only; dropping the last one closes the shutdown channel.
struct Control {
    shared: Arc<Shared>,
    addr: SocketAddr,
    scheme: &'static str,
    shutdown: watch::Sender<bool>,
}

/// A loopback HTTP/1.1 upstream that records requests and answers them from a script.
///
/// Cloning is cheap; the server stops when [`Upstream::shutdown`] is called, the last clone is
/// dropped, or the tokio runtime that called [`Upstream::start`] shuts down.
#[derive(Clone)]
pub struct Upstream {
    control: Arc<Control>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.control.addr)
            .field("requests", &self.request_count())
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl Upstream {
    /// Binds `127.0.0.1:0` and spawns the accept loop on the current tokio runtime.
    ///
    /// Panics if the loopback port cannot be bound or if called outside a tokio runtime.
    pub async fn start() -> Upstream {
        Self::start_with(None).await
    }

    /// Like [`Upstream::start`], serving HTTPS with the test certificates of [`crate::tls`];
    /// [`Upstream::url`] is then `https://127.0.0.1:PORT`.
    pub async fn start_tls(config: crate::tls::TlsConfig) -> Upstream {
        Self::start_with(Some(config.acceptor())).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap_or_else(|e| panic!("testkit: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("testkit: no local address: {e}"));
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                queue: VecDeque::new(),
                default: initial_default(),
                handler: None,
                requests: Vec::new(),
            }),
            recording: AtomicBool::new(true),
            connections: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        let (shutdown, stop) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), stop, tls));
        Upstream {
            control: Arc::new(Control {
                shared,
                addr,
                scheme,
                shutdown,
            }),
        }
    }

    /// The bound loopback address.
    pub fn addr(&self) -> SocketAddr {
        self.control.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` for TLS; no trailing slash).
    pub fn url(&self) -> String {
        format!("{}://{}", self.control.scheme, self.control.addr)
    }

    /// Queues `reply` for the next request (FIFO); queued replies win over the handler and the default.
    pub fn push(&self, reply: Reply) {
        self.shared().script().queue.push_back(reply);
    }

    /// Queues several replies in order.
    pub fn push_many(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared().script().queue.extend(replies);
    }

    /// Sets the reply played when the queue is empty and no handler is set.
    ///
    /// The initial default is a 500 with `{"error":{"message":"testkit: no reply scripted","type":"testkit"}}`.
    pub fn set_default(&self, reply: Reply) {
        self.shared().script().default = reply;
    }

    /// Computes the reply for each request the queue does not answer (takes precedence over the default).
    ///
    /// A panicking handler answers that request with a 500 whose message carries the panic text.
    pub fn set_handler(&self, f: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        self.shared().script().handler = Some(Arc::new(f));
    }

    /// Every request recorded so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared().script().requests.clone()
    }

    /// Requests received so far, counted even while recording is off (reset by [`Upstream::clear_requests`]).
    pub fn request_count(&self) -> usize {
        self.shared().requests.load(Ordering::Relaxed)
    }

    /// Forgets the recorded requests and resets [`Upstream::request_count`].
    pub fn clear_requests(&self) {
        let mut script = self.shared().script();
        script.requests.clear();
        self.shared().requests.store(0, Ordering::Relaxed);
    }

    /// Turns request recording on or off (on by default); benchmarks turn it off.
    pub fn set_recording(&self, on: bool) {
        self.shared().recording.store(on, Ordering::Relaxed);
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.shared().connections.load(Ordering::Relaxed)
    }

    /// Connections currently open (accepted and not yet closed); lets tests check that a client
    /// hanging up on a stalled or endless response really ends the connection.
    pub fn open_connections(&self) -> usize {
        self.shared().open.load(Ordering::Relaxed)
    }

    /// Stops accepting and closes every connection, including stalled and endless responses.
    pub fn shutdown(&self) {
        self.control.shutdown.send_replace(true);
    }

    fn shared(&self) -> &Shared {
        &self.control.shared
    }
}

/// Resolves once shutdown is requested or every [`Upstream`] handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An Err means the sender (owned by the handles) was dropped, which also means stop.
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                shared.open.fetch_add(1, Ordering::Relaxed);
                let open = OpenGuard(shared.clone());
                // Small SSE chunks must not wait for Nagle + delayed ACK.
                let _ = stream.set_nodelay(true);
                match &tls {
                    None => {
                        tokio::spawn(serve_connection(stream, open, stop.clone()));
                    }
                    Some(acceptor) => {
                        let accept = acceptor.accept(stream);
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            // A failed handshake (unknown CA, missing client certificate) just
                            // closes the connection, as a real server would.
                            if let Ok(stream) = accept.await {
                                serve_connection(stream, open, stop).await;
                            }
                        });
                    }
                }
            }
            Err(_) => {
                // Out of file descriptors or a dropped half-open connection: back off briefly and retry.
                tokio::select! {
                    () = stopped(&mut stop) => return,
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
        }
    }
}

async fn serve_connection<S>(stream: S, open: OpenGuard, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = open.0.clone();
    let service = service_fn(move |req| handle(shared.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    // Errors here are clients hanging up or scripted resets; either way the connection is done.
    tokio::select! {
        _ = conn => {}
        () = stopped(&mut stop) => {}
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ReplyBody>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let rec = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let reply = shared.next_reply(rec);
    if let Some(d) = reply.head_delay() {
        tokio::time::sleep(d).await;
    }
    Ok(reply.into_response())
}
