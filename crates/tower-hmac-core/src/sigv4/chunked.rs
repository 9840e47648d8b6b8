//! Streaming uploads (`aws-chunked`, `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): each chunk's
//! signature, chained on the previous one from the request's seed signature.

use bytes::{Buf, Bytes, BytesMut};
use hmac::Mac;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::hexdigits::{EMPTY_SHA256_HEX, hex32};
use super::signing_key::hmac;
use crate::{Rejection, RejectionKind};

/// The longest chunk header (`<hex size>;chunk-signature=<64 hex>`) of a streaming upload.
const MAX_CHUNK_HEADER: usize = 128;
/// The algorithm of a chunk's string to sign.
const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";

/// Decodes and verifies an `aws-chunked` body: `<hex size>;chunk-signature=<sig>\r\n<data>\r\n`,
/// each signature chained on the previous one, the last chunk empty.
pub(super) struct ChunkDecoder {
    /// `AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n`.
    sts_prefix: Vec<u8>,
    previous: String,
    buffer: BytesMut,
    decoded: u64,
    done: bool,
    index: u64,
    /// The most data bytes one chunk may carry (`body_too_large` past it), checked on its
    /// header, before the chunk is gathered; no limit until [`limit_chunks`](Self::limit_chunks).
    max_chunk: u64,
}

impl ChunkDecoder {
    pub(super) fn new(amz_date: &str, scope: &str, seed: &str) -> Self {
        Self {
            sts_prefix: format!("{CHUNK_ALGORITHM}\n{amz_date}\n{scope}\n").into_bytes(),
            previous: seed.to_owned(),
            buffer: BytesMut::new(),
            decoded: 0,
            done: false,
            index: 0,
            max_chunk: u64::MAX,
        }
    }

    /// Refuses (`body_too_large`) a chunk whose header declares more than `max` data bytes.
    pub(super) fn limit_chunks(&mut self, max: u64) {
        self.max_chunk = max;
    }

    /// The decoded length, once the final chunk has been read.
    pub(super) fn finished(&self) -> Option<u64> {
        (self.done && self.buffer.is_empty()).then_some(self.decoded)
    }

    /// Verifies the chunks `input` completes and hands `out` the data of each. Each byte is
    /// copied at most once: a chunk that arrives whole within one input is sliced out of it, and
    /// only a chunk split across inputs is gathered in the buffer (issue 16: every byte was
    /// copied into the buffer, then again into the output).
    pub(super) fn push(
        &mut self,
        key: &[u8; 32],
        input: Bytes,
        out: &mut dyn FnMut(Bytes),
    ) -> Result<(), Rejection> {
        let bad =
            |what: &'static str| Rejection::new(RejectionKind::BodyUnreadable).with_detail(what);
        if self.done {
            if input.is_empty() && self.buffer.is_empty() {
                return Ok(());
            }
            return Err(bad("bytes after the final aws-chunked chunk"));
        }
        // Where the chunks are read from: the input itself when nothing is pending, else the
        // buffer with the input appended.
        let mut direct = if self.buffer.is_empty() {
            Some(input)
        } else {
            self.buffer.extend_from_slice(&input);
            None
        };
        while !self.done {
            let view: &[u8] = match &direct {
                Some(bytes) => bytes,
                None => &self.buffer,
            };
            let Some(end) = view.windows(2).position(|w| w == b"\r\n") else {
                if view.len() > MAX_CHUNK_HEADER {
                    return Err(bad("an aws-chunked chunk header is too long"));
                }
                break;
            };
            if end > MAX_CHUNK_HEADER {
                return Err(bad("an aws-chunked chunk header is too long"));
            }
            let header = std::str::from_utf8(&view[..end])
                .map_err(|_| bad("an aws-chunked chunk header is not ASCII"))?;
            let (size, signature) = header
                .split_once(";chunk-signature=")
                .ok_or_else(|| bad("an aws-chunked chunk has no chunk-signature"))?;
            if size.is_empty()
                || size.len() > 15
                || !size.bytes().all(|b| b.is_ascii_hexdigit())
                || signature.len() != 64
            {
                return Err(bad("a malformed aws-chunked chunk header"));
            }
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad("a malformed aws-chunked chunk size"))?;
            // Before the chunk is gathered: a chunk is held whole until its signature is checked.
            if size as u64 > self.max_chunk {
                return Err(Rejection::new(RejectionKind::BodyTooLarge).with_detail(format!(
                    "aws-chunked chunk {} declares {size} bytes, more than the {} bytes a chunk \
                     may carry here",
                    self.index, self.max_chunk
                )));
            }
            let total = end + 2 + size + 2;
            if view.len() < total {
                break;
            }
            if &view[total - 2..total] != b"\r\n" {
                return Err(bad("an aws-chunked chunk does not end with CRLF"));
            }
            let mut sig = [0u8; 64];
            sig.copy_from_slice(signature.as_bytes());
            let data = match &mut direct {
                Some(bytes) => {
                    let data = bytes.slice(end + 2..end + 2 + size);
                    bytes.advance(total);
                    data
                }
                None => {
                    self.buffer.advance(end + 2);
                    let data = self.buffer.split_to(size).freeze();
                    self.buffer.advance(2);
                    data
                }
            };
            let mut mac = hmac(key);
            mac.update(&self.sts_prefix);
            mac.update(self.previous.as_bytes());
            mac.update(b"\n");
            mac.update(EMPTY_SHA256_HEX.as_bytes());
            mac.update(b"\n");
            mac.update(&hex32(&Sha256::digest(&data)));
            let expected = hex32(&mac.finalize().into_bytes());
            if !bool::from(expected.as_slice().ct_eq(&sig)) {
                return Err(
                    Rejection::new(RejectionKind::InvalidSignature).with_detail(format!(
                        "the signature of aws-chunked chunk {} does not match",
                        self.index
                    )),
                );
            }
            self.index += 1;
            self.previous.clear();
            // The signature is 64 ASCII bytes (checked above as part of a UTF-8 header).
            self.previous
                .push_str(std::str::from_utf8(&sig).unwrap_or_default());
            if size == 0 {
                self.done = true;
            }
            self.decoded += size as u64;
            if !data.is_empty() {
                out(data);
            }
        }
        // What is left of a direct input is the start of the next chunk: kept for the next one.
        if let Some(rest) = direct {
            self.buffer.extend_from_slice(&rest);
        }
        if self.done && !self.buffer.is_empty() {
            return Err(bad("bytes after the final aws-chunked chunk"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

    /// One chunk of `data`, signed after `previous`.
    fn chunk(key: &[u8; 32], previous: &str, data: &[u8]) -> (String, Vec<u8>) {
        let mut mac = hmac(key);
        mac.update(
            format!(
                "{CHUNK_ALGORITHM}\n{DATE}\n{SCOPE}\n{previous}\n{EMPTY_SHA256_HEX}\n{}",
                hex::encode(Sha256::digest(data))
            )
            .as_bytes(),
        );
        let signature = hex::encode(mac.finalize().into_bytes());
        let mut wire = format!("{:x};chunk-signature={signature}\r\n", data.len()).into_bytes();
        wire.extend_from_slice(data);
        wire.extend_from_slice(b"\r\n");
        (signature, wire)
    }

    fn decode(
        decoder: &mut ChunkDecoder,
        key: &[u8; 32],
        input: &[u8],
    ) -> Result<Vec<u8>, Rejection> {
        let mut out = Vec::new();
        decoder.push(key, Bytes::copy_from_slice(input), &mut |b: Bytes| {
            out.extend_from_slice(&b)
        })?;
        Ok(out)
    }

    #[test]
    fn chained_chunks_decode_and_finish() {
        let key = [9u8; 32];
        let seed = "0".repeat(64);
        let (first, mut body) = chunk(&key, &seed, b"hello");
        let (_, last) = chunk(&key, &first, b"");
        body.extend_from_slice(&last);
        let mut decoder = ChunkDecoder::new(DATE, SCOPE, &seed);
        assert_eq!(decode(&mut decoder, &key, &body).unwrap(), b"hello");
        assert_eq!(decoder.finished(), Some(5));
    }

    #[test]
    fn bytes_after_the_final_chunk_are_refused() {
        let key = [9u8; 32];
        let seed = "0".repeat(64);
        let (_, mut body) = chunk(&key, &seed, b"");
        body.push(b'x');
        let mut decoder = ChunkDecoder::new(DATE, SCOPE, &seed);
        let err = decode(&mut decoder, &key, &body).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::BodyUnreadable);
    }

    #[test]
    fn a_chunk_larger_than_the_limit_is_refused_before_it_is_gathered() {
        let key = [9u8; 32];
        let seed = "0".repeat(64);
        let (first, mut body) = chunk(&key, &seed, &[7u8; 16]);
        let (_, second) = chunk(&key, &first, &[8u8; 17]);
        body.extend_from_slice(&second);
        let mut decoder = ChunkDecoder::new(DATE, SCOPE, &seed);
        decoder.limit_chunks(16);
        // Only the second chunk's header: refused before its data arrives.
        let header_end =
            body.len() - second.len() + second.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let mut out = Vec::new();
        let err = decoder
            .push(
                &key,
                Bytes::copy_from_slice(&body[..header_end]),
                &mut |b: Bytes| out.extend_from_slice(&b),
            )
            .unwrap_err();
        assert_eq!(err.kind(), RejectionKind::BodyTooLarge);
        assert!(err.detail().unwrap().contains("chunk 1 declares 17 bytes"));
        // The first chunk, at the limit, was verified and handed on.
        assert_eq!(out, [7u8; 16]);
    }

    #[test]
    fn a_chunk_signed_out_of_chain_is_refused() {
        let key = [9u8; 32];
        let seed = "0".repeat(64);
        // Signed after another previous signature: a chunk moved from another upload.
        let (_, body) = chunk(&key, &"1".repeat(64), b"hello");
        let mut decoder = ChunkDecoder::new(DATE, SCOPE, &seed);
        let err = decode(&mut decoder, &key, &body).unwrap_err();
        assert_eq!(err.kind(), RejectionKind::InvalidSignature);
        assert!(err.detail().unwrap().contains("chunk 0"));
    }
}
