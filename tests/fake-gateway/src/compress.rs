//! The `zstd-stream` transport compression: one zstd stream per connection.
//!
//! Each gateway message is fed into the connection's single compression context and flushed
//! (`ZSTD_e_flush`), so the bytes produced for it are exactly what the client needs to decode
//! that message, and the stream continues across messages like Discord's does.

use zstd_safe::{CCtx, CParameter, InBuffer, OutBuffer, zstd_sys::ZSTD_EndDirective};

/// Level used by the fake: speed matters more than ratio on loopback.
const LEVEL: i32 = 1;

/// A zstd compression error, as zstd names it.
#[derive(Debug, thiserror::Error)]
#[error("zstd compression failed: {0}")]
pub(crate) struct CompressError(&'static str);

/// The compressing half of one connection's zstd stream.
pub(crate) struct ZstdStream {
    ctx: CCtx<'static>,
}

impl std::fmt::Debug for ZstdStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdStream").finish_non_exhaustive()
    }
}

impl ZstdStream {
    /// A fresh stream.
    pub(crate) fn new() -> Result<Self, CompressError> {
        let mut ctx = CCtx::create();
        ctx.set_parameter(CParameter::CompressionLevel(LEVEL))
            .map_err(|code| CompressError(zstd_safe::get_error_name(code)))?;
        Ok(Self { ctx })
    }

    /// Compresses one message and flushes it: the returned bytes are the message's frame payload.
    pub(crate) fn compress(&mut self, message: &[u8]) -> Result<Vec<u8>, CompressError> {
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(message.len()) + 32);
        let mut input = InBuffer::around(message);
        loop {
            let start = out.len();
            let mut output = OutBuffer::around_pos(&mut out, start);
            let remaining = self
                .ctx
                .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
                .map_err(|code| CompressError(zstd_safe::get_error_name(code)))?;
            if remaining == 0 && input.pos() == message.len() {
                return Ok(out);
            }
            out.reserve(remaining.max(4096));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ZstdStream;
    use zstd_safe::{DCtx, InBuffer, OutBuffer};

    /// Decodes the way twilight does: one reusable context, each message decoded on arrival.
    fn decode(ctx: &mut DCtx<'_>, bytes: &[u8]) -> String {
        let mut input = InBuffer::around(bytes);
        let mut decoded = Vec::new();
        let mut buffer = vec![0_u8; 32 * 1024];
        loop {
            let mut output = OutBuffer::around(buffer.as_mut_slice());
            ctx.decompress_stream(&mut output, &mut input).unwrap();
            decoded.extend_from_slice(output.as_slice());
            if input.pos == input.src.len() && output.pos() != output.capacity() {
                break;
            }
        }
        String::from_utf8(decoded).unwrap()
    }

    #[test]
    fn every_message_decodes_on_arrival_from_one_stream() {
        let mut stream = ZstdStream::new().unwrap();
        let mut ctx = DCtx::create();
        let big = format!(r#"{{"op":0,"d":"{}"}}"#, "x".repeat(300_000));
        for message in [r#"{"op":10}"#, big.as_str(), r#"{"op":11}"#, r#"{"op":11}"#] {
            let bytes = stream.compress(message.as_bytes()).unwrap();
            assert_eq!(decode(&mut ctx, &bytes), message);
        }
    }
}
