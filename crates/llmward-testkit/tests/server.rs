//! End-to-end tests of the loopback upstream through a minimal raw HTTP/1.1 client.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use llmward_testkit::{Reply, Upstream, openai, sse};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A keep-alive HTTP/1.1 connection that exposes the wire chunks of a response.
struct Client {
    io: BufReader<TcpStream>,
}

#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding") == Some("chunked")
    }

    fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }
}

/// Reading state of one response body.
enum BodyState {
    Chunked,
    Length(u64),
    Done,
}

#[derive(Debug)]
struct Resp {
    head: Head,
    chunks: Vec<Vec<u8>>,
}

impl Resp {
    fn body(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).unwrap()
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-message",
    )
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            io: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        }
    }

    async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.io.get_mut().write_all(&bytes).await.unwrap();
    }

    async fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.io.read_line(&mut line).await? == 0 {
            return Err(eof());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    async fn head(&mut self) -> io::Result<(Head, BodyState)> {
        let status_line = self.line().await?;
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let head = Head { status, headers };
        let state = if head.chunked() {
            BodyState::Chunked
        } else {
            match head.content_length() {
                Some(0) | None => BodyState::Done,
                Some(n) => BodyState::Length(n),
            }
        };
        Ok((head, state))
    }

    /// The next wire chunk (whole remaining body for Content-Length), `None` at a clean end.
    async fn chunk(&mut self, state: &mut BodyState) -> io::Result<Option<Vec<u8>>> {
        match *state {
            BodyState::Done => Ok(None),
            BodyState::Length(n) => {
                let mut buf = vec![0; n as usize];
                self.io.read_exact(&mut buf).await.map_err(|_| eof())?;
                *state = BodyState::Done;
                Ok(Some(buf))
            }
            BodyState::Chunked => {
                let size = usize::from_str_radix(self.line().await?.trim(), 16).unwrap();
                if size == 0 {
                    while !self.line().await?.is_empty() {}
                    *state = BodyState::Done;
                    return Ok(None);
                }
                let mut buf = vec![0; size + 2];
                self.io.read_exact(&mut buf).await.map_err(|_| eof())?;
                assert_eq!(&buf[size..], b"\r\n");
                buf.truncate(size);
                Ok(Some(buf))
            }
        }
    }

    async fn read_response(&mut self) -> io::Result<Resp> {
        let (head, mut state) = self.head().await?;
        let mut chunks = Vec::new();
        while let Some(c) = self.chunk(&mut state).await? {
            chunks.push(c);
        }
        Ok(Resp { head, chunks })
    }

    async fn get(&mut self, path: &str) -> io::Result<Resp> {
        self.send("GET", path, &[], b"").await;
        self.read_response().await
    }

    async fn post_json(&mut self, path: &str, body: &Value) -> io::Result<Resp> {
        let body = body.to_string();
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
        .await;
        self.read_response().await
    }
}

async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn queued_replies_play_in_order_then_default() {
    let up = Upstream::start().await;
    assert_eq!(up.url(), format!("http://127.0.0.1:{}", up.addr().port()));
    up.push(Reply::json(200, json!({"n": 1})));
    up.push_many([
        Reply::body(201, "text/html", "<h1>hi</h1>").header("x-request-id", "abc"),
        Reply::status(404),
    ]);
    let mut c = Client::connect(up.addr()).await;
    let r = c.get("/a").await.unwrap();
    assert_eq!((r.head.status, r.json()), (200, json!({"n": 1})));
    assert_eq!(r.head.header("content-type"), Some("application/json"));
    assert_eq!(r.head.content_length(), Some(7));
    let r = c.get("/b").await.unwrap();
    assert_eq!((r.head.status, r.body()), (201, b"<h1>hi</h1>".to_vec()));
    assert_eq!(r.head.header("x-request-id"), Some("abc"));
    assert_eq!(r.head.header("content-type"), Some("text/html"));
    let r = c.get("/c").await.unwrap();
    assert_eq!((r.head.status, r.body().len()), (404, 0));
    let r = c.get("/d").await.unwrap();
    assert_eq!(r.head.status, 500);
    assert_eq!(
        r.json(),
        json!({"error": {"message": "testkit: no reply scripted", "type": "testkit"}})
    );
    up.set_default(Reply::status(204));
    assert_eq!(c.get("/e").await.unwrap().head.status, 204);
    assert_eq!(up.connection_count(), 1, "keep-alive reuses one connection");
    assert_eq!(up.request_count(), 5);
}

#[tokio::test]
async fn handler_sits_between_queue_and_default() {
    let up = Upstream::start().await;
    up.set_default(Reply::status(204));
    up.set_handler(|rec| Reply::json(200, json!({"path": rec.path, "method": rec.method})));
    up.push(Reply::status(202));
    let mut c = Client::connect(up.addr()).await;
    assert_eq!(c.get("/first").await.unwrap().head.status, 202);
    let r = c.get("/x?y=1").await.unwrap();
    assert_eq!(r.json(), json!({"path": "/x?y=1", "method": "GET"}));
    up.set_handler(|_| panic!("boom in handler"));
    let r = c.get("/p").await.unwrap();
    assert_eq!(r.head.status, 500);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("boom in handler")
    );
    assert_eq!(c.get("/still-alive").await.unwrap().head.status, 500);
}

#[tokio::test]
async fn records_method_path_headers_and_body() {
    let up = Upstream::start().await;
    up.set_default(Reply::status(200));
    let mut c = Client::connect(up.addr()).await;
    c.send(
        "POST",
        "/v1/chat/completions?api-version=2024-10-21",
        &[
            ("Authorization", "Bearer sk-test"),
            ("X-Weird", "caf\u{e9}"),
        ],
        br#"{"model":"m","messages":[]}"#,
    )
    .await;
    c.read_response().await.unwrap();
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions?api-version=2024-10-21");
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(r.header("AUTHORIZATION"), Some("Bearer sk-test"));
    assert_eq!(r.header("x-weird"), Some("caf\u{e9}"));
    assert!(r.headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
    assert_eq!(r.json(), json!({"model": "m", "messages": []}));
    assert_eq!(
        r.body,
        Bytes::from_static(br#"{"model":"m","messages":[]}"#)
    );

    up.set_recording(false);
    c.get("/unrecorded").await.unwrap();
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.request_count(), 2);
    up.set_recording(true);
    up.clear_requests();
    assert_eq!((up.requests().len(), up.request_count()), (0, 0));
    c.get("/again").await.unwrap();
    assert_eq!(up.requests()[0].path, "/again");
}

#[tokio::test]
async fn sse_chunks_arrive_separately_with_delays() {
    let up = Upstream::start().await;
    let events = vec![
        sse::data(&json!({"n": 1})),
        sse::event("ping", &json!({})),
        sse::DONE.to_owned(),
    ];
    up.push(Reply::sse(events.clone()).chunk_delay(Duration::from_millis(60)));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/s", &[], b"").await;
    let (head, mut state) = c.head().await.unwrap();
    assert_eq!(head.status, 200);
    assert!(head.chunked());
    assert_eq!(
        head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let mut got = Vec::new();
    let mut times = Vec::new();
    while let Some(chunk) = c.chunk(&mut state).await.unwrap() {
        got.push(String::from_utf8(chunk).unwrap());
        times.push(Instant::now());
    }
    assert_eq!(got, events);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(50),
            "chunk_delay not applied"
        );
    }

    // Boundaries survive on the wire even without delays, including inside a UTF-8 sequence.
    let e = "é".as_bytes();
    up.push(Reply::sse_bytes(vec![
        Bytes::from_static(b"data: \"caf"),
        Bytes::copy_from_slice(&e[..1]),
        Bytes::copy_from_slice(&e[1..]),
        Bytes::from_static(b"\"\n\n"),
    ]));
    let r = c.get("/bytes").await.unwrap();
    assert_eq!(r.chunks.len(), 4);
    assert_eq!(r.chunks[1], vec![0xC3]);
    assert_eq!(String::from_utf8(r.body()).unwrap(), "data: \"café\"\n\n");
}

#[tokio::test]
async fn delay_holds_back_the_head() {
    let up = Upstream::start().await;
    up.push(Reply::json(200, json!({})).delay(Duration::from_millis(250)));
    let mut c = Client::connect(up.addr()).await;
    let start = Instant::now();
    c.get("/slow").await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn delay_uses_tokio_time() {
    let up = Upstream::start().await;
    up.push(Reply::status(200).delay(Duration::from_secs(3600)));
    let mut c = Client::connect(up.addr()).await;
    let start = tokio::time::Instant::now();
    let wall = Instant::now();
    c.get("/paused").await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(3600));
    assert!(wall.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn reset_after_fails_the_body_read() {
    let up = Upstream::start().await;
    up.push(
        Reply::sse(vec![
            "data: 1\n\n".into(),
            "data: 2\n\n".into(),
            "data: 3\n\n".into(),
        ])
        .reset_after(2),
    );
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/r", &[], b"").await;
    let (head, mut state) = c.head().await.unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(c.chunk(&mut state).await.unwrap().unwrap(), b"data: 1\n\n");
    assert_eq!(c.chunk(&mut state).await.unwrap().unwrap(), b"data: 2\n\n");
    let err = c.chunk(&mut state).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

    // A Content-Length body aborted before any byte.
    up.push(Reply::json(200, json!({"big": "body"})).reset_after(0));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/r2", &[], b"").await;
    let (head, mut state) = c.head().await.unwrap();
    assert!(head.content_length().unwrap() > 0);
    assert!(c.chunk(&mut state).await.is_err());
    wait_until("reset connections to close", || up.open_connections() == 0).await;
}

#[tokio::test]
async fn stall_after_keeps_the_connection_silent_until_the_client_leaves() {
    let up = Upstream::start().await;
    up.push(Reply::sse(vec!["data: 1\n\n".into(), "data: 2\n\n".into()]).stall_after(1));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/stall", &[], b"").await;
    let (_, mut state) = c.head().await.unwrap();
    assert_eq!(c.chunk(&mut state).await.unwrap().unwrap(), b"data: 1\n\n");
    let waited = tokio::time::timeout(Duration::from_millis(300), c.chunk(&mut state)).await;
    assert!(waited.is_err(), "stalled reply sent more data");
    assert_eq!(up.open_connections(), 1);
    drop(c);
    wait_until("stalled connection to close", || up.open_connections() == 0).await;
}

#[tokio::test]
async fn endless_sse_stops_when_the_client_leaves() {
    let up = Upstream::start().await;
    up.push(Reply::endless_sse(sse::data(&json!({"tick": true}))));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/endless", &[], b"").await;
    let (_, mut state) = c.head().await.unwrap();
    for _ in 0..500 {
        assert_eq!(
            c.chunk(&mut state).await.unwrap().unwrap(),
            br#"data: {"tick":true}"#.iter().chain(b"\n\n").copied().collect::<Vec<_>>()
        );
    }
    drop(c);
    wait_until("endless connection to close", || up.open_connections() == 0).await;
}

#[tokio::test]
async fn redirect_sets_location() {
    let up = Upstream::start().await;
    up.push(Reply::redirect(307, "http://127.0.0.1:1/elsewhere"));
    let mut c = Client::connect(up.addr()).await;
    let r = c.get("/").await.unwrap();
    assert_eq!(r.head.status, 307);
    assert_eq!(
        r.head.header("location"),
        Some("http://127.0.0.1:1/elsewhere")
    );
    assert!(r.body().is_empty());

    up.push(Reply::body(502, "", &b"\xff\xfe not utf-8"[..]));
    let r = c.get("/raw").await.unwrap();
    assert_eq!(r.head.status, 502);
    assert_eq!(r.head.header("content-type"), None);
    assert_eq!(r.body(), b"\xff\xfe not utf-8");
}

#[tokio::test]
async fn content_length_can_lie() {
    let up = Upstream::start().await;
    up.push(Reply::body(200, "application/json", "{}").content_length(1_000_000));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/lie", &[], b"").await;
    let (head, mut state) = c.head().await.unwrap();
    assert_eq!(head.content_length(), Some(1_000_000));
    assert!(!head.chunked());
    assert!(
        c.chunk(&mut state).await.is_err(),
        "short body must not end cleanly"
    );

    // A `content-length` header goes the same way; a longer body is cut at the declared length.
    up.push(Reply::sse(vec!["data: x\n\n".into()]).header("Content-Length", "4"));
    let mut c = Client::connect(up.addr()).await;
    let r = c.get("/sized").await.unwrap();
    assert_eq!(r.head.content_length(), Some(4));
    assert_eq!(r.body(), b"data");
}

#[tokio::test]
async fn oversized_streams_exactly_n_bytes() {
    let up = Upstream::start().await;
    let n = 3 * 65536 + 123;
    up.push(Reply::oversized(200, "application/json", n));
    let mut c = Client::connect(up.addr()).await;
    let r = c.get("/big").await.unwrap();
    assert!(r.head.chunked());
    assert_eq!(r.chunks.len(), 4);
    let body = r.body();
    assert_eq!(body.len(), n);
    assert!(body.iter().all(|b| *b == b'x'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_over_keep_alive_connections() {
    let up = Upstream::start().await;
    up.set_handler(openai::handler());
    let mut tasks = Vec::new();
    for conn in 0..16 {
        let addr = up.addr();
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await;
            for i in 0..13 {
                if conn * 13 + i >= 200 {
                    break;
                }
                let r = c
                    .post_json(
                        "/v1/chat/completions",
                        &json!({"model": format!("m{conn}"), "messages": []}),
                    )
                    .await
                    .unwrap();
                assert_eq!(r.head.status, 200);
                assert_eq!(r.json()["model"], format!("m{conn}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(up.request_count(), 200);
    assert_eq!(up.requests().len(), 200);
    assert_eq!(up.connection_count(), 16);
}

#[tokio::test]
async fn openai_echo_handler() {
    let up = Upstream::start().await;
    up.set_handler(openai::handler());
    let mut c = Client::connect(up.addr()).await;

    let r = c
        .post_json("/v1/chat/completions", &json!({"model": "gpt-x"}))
        .await
        .unwrap();
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "Hello from testkit"
    );
    assert_eq!(r.json()["model"], "gpt-x");

    let r = c
        .post_json(
            "/v1/chat/completions",
            &json!({"model": "gpt-y", "stream": true}),
        )
        .await
        .unwrap();
    assert_eq!(
        r.head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let chunks: Vec<String> = r
        .chunks
        .iter()
        .map(|c| String::from_utf8(c.clone()).unwrap())
        .collect();
    assert_eq!(chunks.last().unwrap(), sse::DONE);
    let text: String = chunks[..chunks.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ").unwrap().trim()).unwrap())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hello from testkit");

    let r = c
        .post_json(
            "/v1/embeddings",
            &json!({"model": "emb", "input": ["a", "b", "c"]}),
        )
        .await
        .unwrap();
    let v = r.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert_eq!(v["data"][2]["index"], 2);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(v["model"], "emb");

    c.send("POST", "/v1/chat/completions", &[], b"not json")
        .await;
    let r = c.read_response().await.unwrap();
    assert_eq!(r.head.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn openai_error_reply() {
    let up = Upstream::start().await;
    up.push(
        openai::error(429, "rate_limit_exceeded", "Rate limit reached")
            .header("retry-after-ms", "20"),
    );
    let mut c = Client::connect(up.addr()).await;
    let r = c.get("/").await.unwrap();
    assert_eq!(r.head.status, 429);
    assert!(
        r.head
            .header("x-request-id")
            .unwrap()
            .starts_with("req_testkit_")
    );
    assert_eq!(r.head.header("retry-after-ms"), Some("20"));
    assert!(
        String::from_utf8(r.body())
            .unwrap()
            .contains("\n    \"error\": {")
    );
    assert_eq!(
        r.json(),
        json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})
    );
}

#[tokio::test]
async fn shutdown_closes_everything() {
    let up = Upstream::start().await;
    up.push(Reply::sse(vec!["data: 1\n\n".into()]).stall_after(1));
    let mut c = Client::connect(up.addr()).await;
    c.send("GET", "/", &[], b"").await;
    let (_, mut state) = c.head().await.unwrap();
    c.chunk(&mut state).await.unwrap();
    up.clone().shutdown();
    assert!(
        c.chunk(&mut state).await.is_err(),
        "stalled response must be cut by shutdown"
    );
    wait_until("connections to close", || up.open_connections() == 0).await;
    let addr = up.addr();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener must be closed"
    );
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let up = Upstream::start().await;
    let addr = up.addr();
    let second = up.clone();
    drop(up);
    let mut c = Client::connect(addr).await;
    assert_eq!(
        c.get("/").await.unwrap().head.status,
        500,
        "a clone keeps it alive"
    );
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "listener still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.get("/").await.is_err(), "open connections are closed too");
}
