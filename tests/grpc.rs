//! gRPC server metrics through the tower layer, with a real tonic server and
//! client over loopback: every gRPC type and every outcome, the code recorded
//! checked against the code the tonic client saw, the counts read back by the
//! parsers (ours, and Python's `prometheus_client` where installed).

mod common;
#[path = "../examples/support/grpc_echo.rs"]
mod echo;

use std::time::Duration;

use common::{parse_openmetrics, Exposition};
use futures_util::StreamExt;
use promhttp::axum::{GrpcClientMetricsLayer, GrpcMetricsLayer};
use promhttp::grpc::{GrpcMetrics, GrpcType};
use promhttp::{Format, Registry};
use tonic::transport::{Channel, Server};
use tonic::Code;

async fn start() -> (Registry, Channel) {
    let registry = Registry::new();
    let grpc = GrpcMetrics::builder()
        .registry(&registry)
        .service(echo::SERVICE, echo::METHODS)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(GrpcMetricsLayer::new(&grpc))
            .add_service(echo::Echo)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (registry, channel)
}

fn client(channel: &Channel) -> tonic::client::Grpc<Channel> {
    tonic::client::Grpc::new(channel.clone())
}

fn path(method: &str) -> http::uri::PathAndQuery {
    format!("/test.Echo/{method}").parse().unwrap()
}

async fn unary(channel: &Channel, message: &str, timeout: Option<Duration>) -> Code {
    let mut grpc = client(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(message.to_owned());
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    match grpc.unary(request, path("Unary"), echo::Text).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The Go middleware's name of a code (`Canceled`, as Go spells it).
fn code_name(code: Code) -> &'static str {
    promhttp::grpc::GRPC_CODES[usize::try_from(code as i32).unwrap()]
}

fn scrape(registry: &Registry) -> Exposition {
    parse_openmetrics(&registry.encode(Format::OpenMetrics).unwrap())
}

fn labels<'a>(kind: &'a str, method: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grpc_type", kind),
        ("grpc_service", "test.Echo"),
        ("grpc_method", method),
    ]
}

fn handled(m: &Exposition, kind: &str, method: &str, code: &str) -> f64 {
    let mut l = labels(kind, method);
    l.push(("grpc_code", code));
    m.value("grpc_server_handled_total", &l)
}

/// Scrapes until every started call is handled (the server ends a call when
/// its response body has gone), and that is `calls`.
async fn settled(registry: &Registry, calls: f64) -> Exposition {
    let m = common::eventually(
        || scrape(registry),
        |m| {
            m.sum("grpc_server_started_total") == calls
                && m.sum("grpc_server_handled_total") == calls
        },
    )
    .await;
    assert_eq!(
        (
            m.sum("grpc_server_started_total"),
            m.sum("grpc_server_handled_total")
        ),
        (calls, calls),
        "started and handled"
    );
    m
}

#[tokio::test]
async fn every_type_is_counted_with_its_messages_and_code() {
    let (registry, channel) = start().await;
    // Before any call, every series of the declared methods is there at 0.
    let m = scrape(&registry);
    for (method, kind) in echo::METHODS {
        for code in promhttp::grpc::GRPC_CODES {
            assert_eq!(
                handled(&m, kind.as_str(), method, code),
                0.0,
                "{method} {code}"
            );
        }
        let l = labels(kind.as_str(), method);
        assert_eq!(m.value("grpc_server_started_total", &l), 0.0);
        assert_eq!(m.value("grpc_server_handling_seconds_count", &l), 0.0);
    }

    assert_eq!(unary(&channel, "ok", None).await, Code::Ok);
    assert_eq!(unary(&channel, "fail:5", None).await, Code::NotFound);

    let mut grpc = client(&channel);
    grpc.ready().await.unwrap();
    let replies: Vec<String> = grpc
        .server_streaming(
            tonic::Request::new("3".to_owned()),
            path("ServerStream"),
            echo::Text,
        )
        .await
        .unwrap()
        .into_inner()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(replies.len(), 3);

    grpc.ready().await.unwrap();
    let messages = futures_util::stream::iter((0..4).map(|i| format!("m{i}")));
    let count = grpc
        .client_streaming(
            tonic::Request::new(messages),
            path("ClientStream"),
            echo::Text,
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count, "4");

    grpc.ready().await.unwrap();
    let messages = futures_util::stream::iter(["a".to_owned(), "b".to_owned()]);
    let echoes: Vec<String> = grpc
        .streaming(tonic::Request::new(messages), path("Bidi"), echo::Text)
        .await
        .unwrap()
        .into_inner()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(echoes, ["echo a", "echo b"]);

    let m = settled(&registry, 5.0).await;
    let msgs = |kind: GrpcType, method: &str| {
        let l = labels(kind.as_str(), method);
        (
            m.value("grpc_server_msg_received_total", &l),
            m.value("grpc_server_msg_sent_total", &l),
        )
    };
    assert_eq!(handled(&m, "unary", "Unary", "OK"), 1.0);
    assert_eq!(handled(&m, "unary", "Unary", "NotFound"), 1.0);
    // The failed call sent no message: its status came with the head.
    assert_eq!(msgs(GrpcType::Unary, "Unary"), (2.0, 1.0));
    assert_eq!(handled(&m, "server_stream", "ServerStream", "OK"), 1.0);
    assert_eq!(msgs(GrpcType::ServerStream, "ServerStream"), (1.0, 3.0));
    assert_eq!(handled(&m, "client_stream", "ClientStream", "OK"), 1.0);
    assert_eq!(msgs(GrpcType::ClientStream, "ClientStream"), (4.0, 1.0));
    assert_eq!(handled(&m, "bidi_stream", "Bidi", "OK"), 1.0);
    assert_eq!(msgs(GrpcType::BidiStream, "Bidi"), (2.0, 2.0));
    assert_eq!(
        m.value(
            "grpc_server_handling_seconds_count",
            &labels("unary", "Unary")
        ),
        2.0
    );
}

#[tokio::test]
async fn each_outcome_is_recorded_with_the_code_the_client_saw() {
    let (registry, channel) = start().await;
    // What the client saw, by code: the calls each code must count.
    let mut seen_by_client = std::collections::BTreeMap::<&str, f64>::new();

    // Every error code a handler can return.
    for code in 1..=16 {
        let seen = unary(&channel, &format!("fail:{code}"), None).await;
        assert_eq!(seen as i32, code);
        *seen_by_client.entry(code_name(seen)).or_default() += 1.0;
    }
    // A handler that panics: tonic's client sees its stream reset, as
    // `Cancelled`; the call is recorded `Internal`, so that a server's panic
    // is never taken for a client's cancel (what the Go recovery middleware
    // answers too).
    let seen = unary(&channel, "panic", None).await;
    assert_eq!(seen, Code::Cancelled, "what tonic's client sees of a panic");
    *seen_by_client.entry("Internal").or_default() += 1.0;
    // A deadline the handler never meets: whatever the machine, it passes.
    // tonic's server answers it `Cancelled` ("Timeout expired"); the call is
    // recorded `DeadlineExceeded`, what the deadline means and what the Go
    // middleware records.
    let seen = unary(&channel, "hang", Some(Duration::from_millis(50))).await;
    assert_eq!(seen, Code::Cancelled);
    *seen_by_client.entry("DeadlineExceeded").or_default() += 1.0;
    // A client that cancels mid-stream: two replies of an endless stream
    // read, then the stream dropped.
    let mut grpc = client(&channel);
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new("forever".to_owned()),
            path("ServerStream"),
            echo::Text,
        )
        .await
        .unwrap()
        .into_inner();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    let m = settled(&registry, 19.0).await;
    for code in promhttp::grpc::GRPC_CODES {
        let expected = seen_by_client.get(code).copied().unwrap_or(0.0);
        assert_eq!(handled(&m, "unary", "Unary", code), expected, "{code}");
    }
    assert_eq!(
        handled(&m, "server_stream", "ServerStream", "Canceled"),
        1.0,
        "the client's cancel"
    );
    let sent = m.value(
        "grpc_server_msg_sent_total",
        &labels("server_stream", "ServerStream"),
    );
    assert!(sent >= 2.0, "{sent}");
}

#[tokio::test]
async fn a_method_nobody_declared_is_unknown() {
    let (registry, channel) = start().await;
    let mut grpc = client(&channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new("x".to_owned()),
            "/scanner.Probe/Everything".parse().unwrap(),
            echo::Text,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let m = settled(&registry, 1.0).await;
    let unknown = [
        ("grpc_type", "unknown"),
        ("grpc_service", "unknown"),
        ("grpc_method", "unknown"),
        ("grpc_code", "Unimplemented"),
    ];
    assert_eq!(m.value("grpc_server_handled_total", &unknown), 1.0);
    assert_eq!(
        m.distinct("grpc_server_started_total", "grpc_service"),
        ["test.Echo", "unknown"]
    );
}

#[tokio::test]
async fn the_grpc_example_serves_its_calls_on_its_metrics_listener() {
    let (_example, line) = common::start_example(
        "grpc",
        &[
            ("GRPC_BIND", "127.0.0.1:0"),
            ("METRICS_BIND", "127.0.0.1:0"),
        ],
        &[],
    );
    let grpc_addr = line
        .split(" on ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no gRPC address in {line:?}"));
    let metrics = common::served_addr(&line);
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(unary(&channel, "ok", None).await, Code::Ok);
    assert_eq!(unary(&channel, "fail:14", None).await, Code::Unavailable);
    let m = common::eventually(
        || common::scrape_parsed(metrics),
        |m| m.sum("grpc_server_handled_total") == 2.0,
    )
    .await;
    assert_eq!(handled(&m, "unary", "Unary", "OK"), 1.0);
    assert_eq!(handled(&m, "unary", "Unary", "Unavailable"), 1.0);
    // The declared methods' series are there at 0.
    assert_eq!(handled(&m, "bidi_stream", "Bidi", "OK"), 0.0);
    // Both formats pass every reader and promtool.
    tokio::task::spawn_blocking(move || common::check_outputs(metrics))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_records_its_calls_and_messages_as_the_server_sees_them() {
    let (server_registry, channel) = start().await;
    let registry = Registry::new();
    let calls = GrpcMetrics::client_builder()
        .registry(&registry)
        .service(echo::SERVICE, echo::METHODS)
        .build()
        .unwrap();
    let layer = GrpcClientMetricsLayer::new(&calls, tonic::body::Body::new);
    let mut grpc = tonic::client::Grpc::new(
        tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service(channel.clone()),
    );
    let code_of = |result: Result<_, tonic::Status>| match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    for (message, expected) in [("ok", Code::Ok), ("fail:5", Code::NotFound)] {
        grpc.ready().await.unwrap();
        let result = grpc
            .unary(
                tonic::Request::new(message.to_owned()),
                path("Unary"),
                echo::Text,
            )
            .await;
        assert_eq!(code_of(result), expected);
    }
    grpc.ready().await.unwrap();
    let replies: Vec<_> = grpc
        .server_streaming(
            tonic::Request::new("3".to_owned()),
            path("ServerStream"),
            echo::Text,
        )
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(replies.len(), 3);
    grpc.ready().await.unwrap();
    let messages = futures_util::stream::iter((0..4).map(|i| format!("m{i}")));
    grpc.client_streaming(
        tonic::Request::new(messages),
        path("ClientStream"),
        echo::Text,
    )
    .await
    .unwrap();
    grpc.ready().await.unwrap();
    let messages = futures_util::stream::iter(["a".to_owned(), "b".to_owned()]);
    let echoes: Vec<_> = grpc
        .streaming(tonic::Request::new(messages), path("Bidi"), echo::Text)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(echoes.len(), 2);
    // The client gives up on an endless stream after two replies.
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(
            tonic::Request::new("forever".to_owned()),
            path("ServerStream"),
            echo::Text,
        )
        .await
        .unwrap()
        .into_inner();
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    // A server that is not there: the call never leaves.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let nowhere = Channel::from_shared(format!("http://{closed}"))
        .unwrap()
        .connect_lazy();
    let mut refused =
        tonic::client::Grpc::new(tower::ServiceBuilder::new().layer(layer).service(nowhere));
    let seen = match refused.ready().await {
        Ok(()) => code_of(
            refused
                .unary(
                    tonic::Request::new("ok".to_owned()),
                    path("Unary"),
                    echo::Text,
                )
                .await,
        ),
        Err(_) => Code::Unavailable,
    };
    assert_eq!(
        seen,
        Code::Unavailable,
        "what tonic's client sees of a refused connection"
    );

    let client = common::eventually(
        || scrape(&registry),
        |m| m.sum("grpc_client_handled_total") == 7.0,
    )
    .await;
    let server = settled(&server_registry, 6.0).await;
    let client_handled = |kind: &str, method: &str, code: &str| {
        let mut l = labels(kind, method);
        l.push(("grpc_code", code));
        client.value("grpc_client_handled_total", &l)
    };
    assert_eq!(client_handled("unary", "Unary", "OK"), 1.0);
    assert_eq!(client_handled("unary", "Unary", "NotFound"), 1.0);
    assert_eq!(client_handled("unary", "Unary", "Unavailable"), 1.0);
    assert_eq!(client_handled("server_stream", "ServerStream", "OK"), 1.0);
    assert_eq!(
        client_handled("server_stream", "ServerStream", "Canceled"),
        1.0
    );
    assert_eq!(client_handled("client_stream", "ClientStream", "OK"), 1.0);
    assert_eq!(client_handled("bidi_stream", "Bidi", "OK"), 1.0);
    // What one side sent, the other received: exactly, where both ends
    // finished (the endless stream aside, which the server stops mid-way).
    for (kind, method) in [
        ("unary", "Unary"),
        ("client_stream", "ClientStream"),
        ("bidi_stream", "Bidi"),
    ] {
        let l = labels(kind, method);
        assert_eq!(
            client.value("grpc_client_msg_sent_total", &l),
            server.value("grpc_server_msg_received_total", &l),
            "{method}"
        );
        assert_eq!(
            client.value("grpc_client_msg_received_total", &l),
            server.value("grpc_server_msg_sent_total", &l),
            "{method}"
        );
    }
    let l = labels("client_stream", "ClientStream");
    assert_eq!(client.value("grpc_client_msg_sent_total", &l), 4.0);
    let l = labels("server_stream", "ServerStream");
    assert_eq!(client.value("grpc_client_msg_sent_total", &l), 2.0);
    assert!(client.value("grpc_client_msg_received_total", &l) >= 5.0);
}
