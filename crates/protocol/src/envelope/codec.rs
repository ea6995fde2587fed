//! The canonical fixed-layout envelope encoding.
//!
//! ```text
//! header  = version:u8 doc:[16] epoch:u64be author:[32] seq:u64be prev:[32] kind:u8
//!           [kind=1: count:u16be (author:[32] seq:u64be hash:[32]){count}]
//! body    = commitment:[32] nonce:[24] len:u32be ciphertext:[len]
//! trailer = signature:[64]
//! ```

use super::{Cover, Envelope, EnvelopeError, EnvelopeHash, EnvelopeHeader, EnvelopeKind};
use super::{ENVELOPE_VERSION, MAX_COVERS, MAX_PAYLOAD, TAG_LEN};
use crate::ids::{DeviceId, DocId, Epoch};

/// Bytes of the header before the kind-specific part.
pub(crate) const FIXED_HEADER: usize = 1 + 16 + 8 + 32 + 8 + 32 + 1;
/// Bytes of one snapshot cover entry.
pub(crate) const COVER_LEN: usize = 32 + 8 + 32;
/// Signature length.
pub(crate) const SIG_LEN: usize = 64;
/// Bytes of commitment, nonce, length prefix and signature.
pub(crate) const TRAILER: usize = 32 + 24 + 4 + SIG_LEN;

/// Appends the canonical header encoding.
pub(crate) fn encode_header(h: &EnvelopeHeader, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
    out.push(h.version);
    out.extend_from_slice(h.doc.as_bytes());
    out.extend_from_slice(&h.epoch.0.to_be_bytes());
    out.extend_from_slice(h.author.as_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(h.prev.as_bytes());
    match &h.kind {
        EnvelopeKind::Changes => out.push(0),
        EnvelopeKind::Snapshot { covers } => {
            out.push(1);
            if covers.len() > MAX_COVERS {
                return Err(EnvelopeError::TooLarge("covers"));
            }
            out.extend_from_slice(&(covers.len() as u16).to_be_bytes());
            for c in covers {
                out.extend_from_slice(c.author.as_bytes());
                out.extend_from_slice(&c.seq.to_be_bytes());
                out.extend_from_slice(c.hash.as_bytes());
            }
        }
    }
    Ok(())
}

/// Checks the semantic rules every header must satisfy.
pub(crate) fn check_header(h: &EnvelopeHeader) -> Result<(), EnvelopeError> {
    if h.version != ENVELOPE_VERSION {
        return Err(EnvelopeError::Version(h.version));
    }
    if h.seq == 0 {
        return Err(EnvelopeError::Invalid("sequence numbers start at 1"));
    }
    if h.seq == 1 && h.prev != EnvelopeHash::ZERO {
        return Err(EnvelopeError::Invalid(
            "first envelope must have a zero prev hash",
        ));
    }
    if let EnvelopeKind::Snapshot { covers } = &h.kind {
        if covers.len() > MAX_COVERS {
            return Err(EnvelopeError::TooLarge("covers"));
        }
        if covers.windows(2).any(|w| w[0].author >= w[1].author) {
            return Err(EnvelopeError::Invalid(
                "covers must be sorted by author, without repeats",
            ));
        }
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        let end = self.pos.checked_add(n).ok_or(EnvelopeError::Truncated)?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(EnvelopeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], EnvelopeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, EnvelopeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, EnvelopeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, EnvelopeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, EnvelopeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Reads a device id without decoding the key: verification decodes
    /// (or takes the decoded key from the membership log).
    fn device(&mut self) -> Result<DeviceId, EnvelopeError> {
        Ok(DeviceId::from_bytes_unchecked(self.array()?))
    }
}

/// Parses a complete envelope.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > super::MAX_ENVELOPE_BYTES {
        return Err(EnvelopeError::TooLarge("envelope"));
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u8()?;
    if version != ENVELOPE_VERSION {
        return Err(EnvelopeError::Version(version));
    }
    let doc = DocId::from_bytes(r.array()?);
    let epoch = Epoch(r.u64()?);
    let author = r.device()?;
    let seq = r.u64()?;
    let prev = EnvelopeHash::from_bytes(r.array()?);
    let kind = match r.u8()? {
        0 => EnvelopeKind::Changes,
        1 => {
            let n = r.u16()? as usize;
            if n > MAX_COVERS {
                return Err(EnvelopeError::TooLarge("covers"));
            }
            let mut covers = Vec::with_capacity(n);
            for _ in 0..n {
                let author = r.device()?;
                let seq = r.u64()?;
                let hash = EnvelopeHash::from_bytes(r.array()?);
                covers.push(Cover { author, seq, hash });
            }
            EnvelopeKind::Snapshot { covers }
        }
        k => return Err(EnvelopeError::Kind(k)),
    };
    let header = EnvelopeHeader {
        version,
        doc,
        epoch,
        author,
        seq,
        prev,
        kind,
    };
    check_header(&header)?;
    let header_len = r.pos;
    r.take(32 + 24)?;
    let len = r.u32()? as usize;
    if len < TAG_LEN {
        return Err(EnvelopeError::Invalid("ciphertext shorter than its tag"));
    }
    if len > MAX_PAYLOAD + TAG_LEN {
        return Err(EnvelopeError::TooLarge("payload"));
    }
    r.take(len)?;
    r.take(SIG_LEN)?;
    if r.pos != bytes.len() {
        return Err(EnvelopeError::Trailing);
    }
    Ok(Envelope::new(header, bytes.into(), header_len))
}
