//! The `test.Echo` gRPC service of the `grpc` example and the gRPC tests:
//! one method of each gRPC type, with text messages, written as tonic's code
//! generation would write it (no protobuf, no `protoc`). Needs the example's
//! dependencies: tonic, bytes, futures-util, http, http-body.

// Not every user reads every item.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use futures_util::{Stream, StreamExt};
use promhttp::grpc::GrpcType;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status, Streaming};

/// The service's name.
pub(crate) const SERVICE: &str = "test.Echo";

/// Its methods and how each streams: what the metric set declares.
pub(crate) const METHODS: [(&str, GrpcType); 4] = [
    ("Unary", GrpcType::Unary),
    ("ServerStream", GrpcType::ServerStream),
    ("ClientStream", GrpcType::ClientStream),
    ("Bidi", GrpcType::BidiStream),
];

/// Messages are UTF-8 text: no protobuf, no code generation.
#[derive(Clone, Copy, Default)]
pub(crate) struct Text;

impl Codec for Text {
    type Encode = String;
    type Decode = String;
    type Encoder = Text;
    type Decoder = Text;
    fn encoder(&mut self) -> Text {
        Text
    }
    fn decoder(&mut self) -> Text {
        Text
    }
}

impl Encoder for Text {
    type Item = String;
    type Error = Status;
    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for Text {
    type Item = String;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type TextStream = Pin<Box<dyn Stream<Item = Result<String, Status>> + Send>>;

/// What a unary call asks for: `ok`, `fail:<code>`, `panic`, `hang`.
async fn answer(message: &str) -> Result<String, Status> {
    if let Some(code) = message.strip_prefix("fail:") {
        return Err(Status::new(
            Code::from(code.parse::<i32>().unwrap()),
            "asked to",
        ));
    }
    match message {
        "panic" => panic!("the handler panicked on purpose"),
        "hang" => std::future::pending().await,
        other => Ok(format!("re: {other}")),
    }
}

struct Unary;
impl tonic::server::UnaryService<String> for Unary {
    type Response = String;
    type Future = BoxFuture<Result<tonic::Response<String>, Status>>;
    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        Box::pin(async move { answer(request.get_ref()).await.map(tonic::Response::new) })
    }
}

/// Sends as many replies as the request says, or for ever with `forever`.
struct ServerStream;
impl tonic::server::ServerStreamingService<String> for ServerStream {
    type Response = String;
    type ResponseStream = TextStream;
    type Future = BoxFuture<Result<tonic::Response<TextStream>, Status>>;
    fn call(&mut self, request: tonic::Request<String>) -> Self::Future {
        let n = request.get_ref().parse::<usize>().unwrap_or(usize::MAX);
        let stream = futures_util::stream::iter((0..n).map(|i| Ok(format!("reply {i}"))));
        Box::pin(async move { Ok(tonic::Response::new(Box::pin(stream) as TextStream)) })
    }
}

/// Counts the messages it gets, and answers the count.
struct ClientStream;
impl tonic::server::ClientStreamingService<String> for ClientStream {
    type Response = String;
    type Future = BoxFuture<Result<tonic::Response<String>, Status>>;
    fn call(&mut self, request: tonic::Request<Streaming<String>>) -> Self::Future {
        Box::pin(async move {
            let mut stream = request.into_inner();
            let mut n = 0;
            while let Some(message) = stream.next().await {
                message?;
                n += 1;
            }
            Ok(tonic::Response::new(n.to_string()))
        })
    }
}

/// Echoes every message.
struct Bidi;
impl tonic::server::StreamingService<String> for Bidi {
    type Response = String;
    type ResponseStream = TextStream;
    type Future = BoxFuture<Result<tonic::Response<TextStream>, Status>>;
    fn call(&mut self, request: tonic::Request<Streaming<String>>) -> Self::Future {
        let stream = request.into_inner().map(|m| m.map(|m| format!("echo {m}")));
        Box::pin(async move { Ok(tonic::Response::new(Box::pin(stream) as TextStream)) })
    }
}

/// The service, as tonic's code generation would write it.
#[derive(Clone)]
pub(crate) struct Echo;

impl tonic::server::NamedService for Echo {
    const NAME: &'static str = SERVICE;
}

impl<B> tower::Service<http::Request<B>> for Echo
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let mut grpc = tonic::server::Grpc::new(Text);
        match req.uri().path() {
            "/test.Echo/Unary" => Box::pin(async move { Ok(grpc.unary(Unary, req).await) }),
            "/test.Echo/ServerStream" => {
                Box::pin(async move { Ok(grpc.server_streaming(ServerStream, req).await) })
            }
            "/test.Echo/ClientStream" => {
                Box::pin(async move { Ok(grpc.client_streaming(ClientStream, req).await) })
            }
            "/test.Echo/Bidi" => Box::pin(async move { Ok(grpc.streaming(Bidi, req).await) }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}
