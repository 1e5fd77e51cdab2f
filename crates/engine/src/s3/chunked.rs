//! Decoding of an `aws-chunked` body (`<hex size>[;chunk-signature=..]\r\n
//! <data>\r\n ... 0\r\n<trailers>\r\n`) in open mode, where no signature is
//! checked; trailers (checksums) are handed over in a [`Trailers`] when the
//! body ends. Streams: at most one network chunk plus a chunk header (or the
//! trailers) is held.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::checksum::Trailers;

enum State {
    Header,
    Data(u64),
    Crlf,
    Trailers,
    Done,
}

/// The longest chunk header accepted (size, signature and extensions), and
/// the most bytes of trailers.
const MAX_HEADER: usize = 4096;

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("malformed aws-chunked body: {what}"),
    )
}

/// The trailer lines (`name:value`, CRLF-separated, up to an empty line).
fn parse_trailers(buf: &[u8]) -> Result<HeaderMap, std::io::Error> {
    let text = std::str::from_utf8(buf).map_err(|_| bad("the trailers are not text"))?;
    let mut out = HeaderMap::new();
    for line in text.split("\r\n").map(str::trim).filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("a trailer has no colon"))?;
        let name = HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| bad("a trailer name is invalid"))?;
        let value =
            HeaderValue::from_str(value.trim()).map_err(|_| bad("a trailer value is invalid"))?;
        out.append(name, value);
    }
    Ok(out)
}

/// The decoded bytes of an aws-chunked `body`; its trailers go to `trailers`
/// when it ends.
pub(crate) fn decode(
    body: axum::body::Body,
    trailers: Trailers,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let src = body.into_data_stream();
    futures_util::stream::unfold(
        (src, BytesMut::new(), State::Header),
        move |(mut src, mut buf, mut st)| {
            let trailers = trailers.clone();
            async move {
                loop {
                    match st {
                        State::Done => return None,
                        State::Header => {
                            if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                                let line = buf.split_to(at + 2);
                                let text = std::str::from_utf8(&line[..at]).unwrap_or("");
                                let size = text.split(';').next().unwrap_or("").trim();
                                match u64::from_str_radix(size, 16) {
                                    Ok(0) => st = State::Trailers,
                                    Ok(n) => st = State::Data(n),
                                    Err(_) => {
                                        return Some((
                                            Err(bad("a chunk size is not hexadecimal")),
                                            (src, buf, State::Done),
                                        ))
                                    }
                                }
                                continue;
                            }
                            if buf.len() > MAX_HEADER {
                                return Some((
                                    Err(bad("a chunk header is too long")),
                                    (src, buf, State::Done),
                                ));
                            }
                        }
                        State::Data(n) => {
                            if !buf.is_empty() {
                                let take = (n as usize).min(buf.len());
                                let out = buf.split_to(take).freeze();
                                st = if take as u64 == n {
                                    State::Crlf
                                } else {
                                    State::Data(n - take as u64)
                                };
                                return Some((Ok(out), (src, buf, st)));
                            }
                        }
                        State::Crlf => {
                            if buf.len() >= 2 {
                                if &buf[..2] != b"\r\n" {
                                    return Some((
                                        Err(bad("a chunk does not end with CRLF")),
                                        (src, buf, State::Done),
                                    ));
                                }
                                buf.advance(2);
                                st = State::Header;
                                continue;
                            }
                        }
                        State::Trailers => {
                            if buf.len() > MAX_HEADER {
                                return Some((
                                    Err(bad("the trailers are too long")),
                                    (src, buf, State::Done),
                                ));
                            }
                        }
                    }
                    match src.next().await {
                        Some(Ok(b)) => buf.extend_from_slice(&b),
                        Some(Err(e)) => {
                            return Some((Err(std::io::Error::other(e)), (src, buf, State::Done)))
                        }
                        None if matches!(st, State::Trailers) => {
                            return match parse_trailers(&buf) {
                                Ok(h) => {
                                    trailers.set(h);
                                    None
                                }
                                Err(e) => Some((Err(e), (src, buf, State::Done))),
                            }
                        }
                        None => {
                            return Some((
                                Err(bad("the body ended inside a chunk")),
                                (src, buf, State::Done),
                            ))
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(parts: Vec<&'static [u8]>) -> Result<Vec<u8>, std::io::Error> {
        run_with(parts, Trailers::default()).await
    }

    async fn run_with(
        parts: Vec<&'static [u8]>,
        trailers: Trailers,
    ) -> Result<Vec<u8>, std::io::Error> {
        let stream = futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
        );
        let out = decode(axum::body::Body::from_stream(stream), trailers);
        futures_util::pin_mut!(out);
        let mut all = Vec::new();
        while let Some(b) = out.next().await {
            all.extend_from_slice(&b?);
        }
        Ok(all)
    }

    #[tokio::test]
    async fn decodes_signed_and_unsigned_chunks_split_anywhere() {
        let body: &[u8] = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        assert_eq!(run(vec![body]).await.unwrap(), b"hello world");
        let (a, rest) = body.split_at(3);
        let (b, c) = rest.split_at(20);
        assert_eq!(run(vec![a, b, c]).await.unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn trailers_are_handed_over_when_the_body_ends() {
        let body: &[u8] = b"5\r\nhello\r\n0\r\nX-Amz-Checksum-CRC32:NhCmhg==\r\nx-amz-trailer-signature:ab\r\n\r\n";
        let (a, b) = body.split_at(body.len() - 9);
        let trailers = Trailers::default();
        assert_eq!(
            run_with(vec![a, b], trailers.clone()).await.unwrap(),
            b"hello"
        );
        let got = trailers.take().unwrap();
        assert_eq!(got.get("x-amz-checksum-crc32").unwrap(), "NhCmhg==");
        assert_eq!(got.get("x-amz-trailer-signature").unwrap(), "ab");
        // No trailers at all: an empty map.
        let none = Trailers::default();
        run_with(vec![b"0\r\n\r\n"], none.clone()).await.unwrap();
        assert!(none.take().unwrap().is_empty());
        assert!(run(vec![b"0\r\nno colon\r\n\r\n"]).await.is_err());
        let long: &'static [u8] = Box::leak(
            [&b"0\r\nx:"[..], &vec![b'a'; 5000], b"\r\n\r\n"]
                .concat()
                .into_boxed_slice(),
        );
        assert!(run(vec![long]).await.is_err());
    }

    #[tokio::test]
    async fn a_cut_or_malformed_body_is_an_error() {
        assert!(run(vec![b"5\r\nhel"]).await.is_err());
        assert!(run(vec![b"zz\r\nhello\r\n0\r\n\r\n"]).await.is_err());
        assert!(run(vec![b"5\r\nhelloXX0\r\n\r\n"]).await.is_err());
    }
}
