//! Content-addressed blobs: blake3 of the raw bytes as the key, zstd for
//! the stored form. Compression runs in the check task, off the writer.

/// A blob ready to be written.
#[derive(Debug, Clone)]
pub struct Blob {
    pub hash: [u8; 32],
    pub size: u64,
    pub data: Vec<u8>,
}

/// The zstd level: 3 is zstd's default, a good ratio at a few hundred MB/s.
const LEVEL: i32 = 3;

impl Blob {
    /// Hashes and compresses `raw`.
    pub fn compress(raw: &[u8]) -> std::io::Result<Blob> {
        Ok(Blob {
            hash: hash(raw),
            size: raw.len() as u64,
            data: zstd::bulk::compress(raw, LEVEL)?,
        })
    }
}

pub fn hash(raw: &[u8]) -> [u8; 32] {
    *blake3::hash(raw).as_bytes()
}

pub fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decompresses a stored blob, refusing to grow past `size` (+ slack).
pub fn decompress(data: &[u8], size: u64) -> std::io::Result<Vec<u8>> {
    let cap = usize::try_from(size).unwrap_or(usize::MAX).saturating_add(64);
    zstd::bulk::decompress(data, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = "장성택 ".repeat(1000);
        let b = Blob::compress(raw.as_bytes()).expect("compress");
        assert!(b.data.len() < raw.len() / 10);
        assert_eq!(decompress(&b.data, b.size).expect("decompress"), raw.as_bytes());
        assert_eq!(b.hash, hash(raw.as_bytes()));
    }
}
