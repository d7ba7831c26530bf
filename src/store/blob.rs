//! Content-addressed blobs: blake3 of the raw bytes as the key, zstd for
//! the stored form. Compression runs in the check task, off the writer.
//!
//! A blob may be compressed with another blob's raw content as the zstd
//! dictionary (`dict`):
//!
//! * the extracted text of a page is nearly all copied from its body, so
//!   against the body it costs a few hundred bytes instead of a third of
//!   the body again;
//! * a new body is mostly the previous one (the same template, the same
//!   article with a sentence changed, a rotated sidebar), so it is stored
//!   against a [`Base`], the plain body under the last version: tens to a
//!   few hundred bytes instead of ≈ 9 KB for a 30 KB page. When the page
//!   has drifted so far that this saves little, the body is stored plain
//!   and becomes the base of the next ones.
//!
//! So a chain is never longer than two: text → body → plain body. A body's
//! dictionary is always plain, and reading any blob takes at most two others.

/// A blob ready to be written.
#[derive(Debug, Clone)]
pub struct Blob {
    pub hash: [u8; 32],
    pub size: u64,
    /// The blob whose raw content is the dictionary, if any.
    pub dict: Option<[u8; 32]>,
    pub data: Vec<u8>,
}

thread_local! {
    /// One compression context per thread, reused: creating a context costs
    /// about as much as compressing a small page.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(LEVEL).ok());
}

thread_local! {
    /// One decompression context per thread, reused like [`COMPRESSOR`].
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// A plain blob that a new body may be compressed against: its hash and
/// raw content.
#[derive(Debug, Clone)]
pub struct Base {
    pub hash: [u8; 32],
    pub raw: Vec<u8>,
}

/// A body stored against a [`Base`] must come out smaller than this share
/// of its raw size (1/8, about 40 % of what it costs plain for HTML), or
/// it is stored plain and starts a new base.
const DELTA_AT_MOST: usize = 8;

/// The zstd level for blobs compressed against a dictionary.
const DICT_LEVEL: i32 = 1;

/// The zstd level of plain blobs. Level 1 compresses a 30 KB page in about
/// 70 % of level 3's time to within 3 % of its size (measured on the
/// benchmark's pages), and a body is compressed on every new version.
const LEVEL: i32 = 1;

impl Blob {
    /// Compresses `raw`, whose [`hash`] the caller has already taken.
    pub fn compress(raw: &[u8], hash: [u8; 32]) -> std::io::Result<Blob> {
        Ok(Blob {
            hash,
            size: raw.len() as u64,
            dict: None,
            data: shrunk(COMPRESSOR.with(|c| match c.borrow_mut().as_mut() {
                Some(c) => c.compress(raw),
                None => zstd::bulk::compress(raw, LEVEL),
            })?),
        })
    }
}

impl Blob {
    /// Compresses `raw` (its [`hash`] already taken) with `dict` (a plain
    /// blob's hash and raw content) as the dictionary; falls back to plain
    /// compression if zstd refuses it.
    pub fn compress_with(
        raw: &[u8],
        hash: [u8; 32],
        dict: (&[u8; 32], &[u8]),
    ) -> std::io::Result<Blob> {
        if hash == *dict.0 {
            // A text that is its own body (text/plain): store it once, plain.
            return Blob::compress(raw, hash);
        }
        match compress_against(raw, dict.1) {
            Ok(data) => Ok(Blob {
                hash,
                size: raw.len() as u64,
                dict: Some(*dict.0),
                data,
            }),
            Err(_) => Blob::compress(raw, hash),
        }
    }
}

impl Blob {
    /// Compresses a body (its [`hash`] already taken) against `base`, the
    /// plain body under the last version; plain if there is no base, if the
    /// body is the base, or if the page has changed so much that the delta
    /// is more than an eighth of the raw size.
    pub fn compress_against_base(
        raw: &[u8],
        hash: [u8; 32],
        base: Option<&Base>,
    ) -> std::io::Result<Blob> {
        let Some(base) = base.filter(|b| b.hash != hash) else {
            return Blob::compress(raw, hash);
        };
        match compress_against(raw, &base.raw) {
            Ok(data) if data.len().saturating_mul(DELTA_AT_MOST) <= raw.len() => Ok(Blob {
                hash,
                size: raw.len() as u64,
                dict: Some(base.hash),
                data,
            }),
            _ => Blob::compress(raw, hash),
        }
    }
}

/// zstd with `prefix` referenced as raw content: nothing is copied and no
/// dictionary structure is built, so the cost is indexing the prefix once.
/// The frame reads back with the same bytes as a dictionary
/// ([`decompress_with`]). A fresh context per call: referencing borrowed
/// bytes cannot outlive the call, and a small context is cheap at level 1.
fn compress_against(raw: &[u8], prefix: &[u8]) -> std::io::Result<Vec<u8>> {
    let err = |code: usize| std::io::Error::other(zstd_safe::get_error_name(code));
    let mut cx = zstd_safe::CCtx::create();
    // Level 1: the text is nearly a copy of the prefix, and level 1 fills
    // one hash table, not two.
    cx.set_parameter(zstd_safe::CParameter::CompressionLevel(DICT_LEVEL))
        .map_err(err)?;
    cx.set_pledged_src_size(Some(raw.len() as u64))
        .map_err(err)?;
    cx.ref_prefix(prefix).map_err(err)?;
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
    cx.compress2(&mut out, raw).map_err(err)?;
    Ok(shrunk(out))
}

/// zstd allocates the worst-case size (a little over the input); a blob
/// waiting in the writer's queue should hold only its compressed bytes.
fn shrunk(mut data: Vec<u8>) -> Vec<u8> {
    data.shrink_to_fit();
    data
}

/// Decompresses a blob stored with a dictionary.
pub fn decompress_with(data: &[u8], size: u64, dict: &[u8]) -> std::io::Result<Vec<u8>> {
    let cap = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(64);
    DECOMPRESSOR.with(|d| match d.borrow_mut().as_mut() {
        Some(d) => {
            let out = d
                .set_dictionary(dict)
                .and_then(|()| d.decompress(data, cap));
            let reset = d.set_dictionary(&[]);
            out.and_then(|raw| reset.map(|()| raw))
        }
        None => zstd::bulk::Decompressor::with_dictionary(dict)?.decompress(data, cap),
    })
}

pub fn hash(raw: &[u8]) -> [u8; 32] {
    *blake3::hash(raw).as_bytes()
}

pub fn hex(hash: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(hash.len() * 2);
    for b in hash {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decompresses a stored blob, refusing to grow past `size` (+ slack).
pub fn decompress(data: &[u8], size: u64) -> std::io::Result<Vec<u8>> {
    let cap = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(64);
    DECOMPRESSOR.with(|d| match d.borrow_mut().as_mut() {
        Some(d) => d.decompress(data, cap),
        None => zstd::bulk::decompress(data, cap),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = "장성택 ".repeat(1000);
        let b = Blob::compress(raw.as_bytes(), hash(raw.as_bytes())).expect("compress");
        assert!(b.data.len() < raw.len() / 10);
        assert_eq!(
            decompress(&b.data, b.size).expect("decompress"),
            raw.as_bytes()
        );
        assert_eq!(b.hash, hash(raw.as_bytes()));
    }

    #[test]
    fn body_against_the_last_base() {
        let page = |para: &str, side: &str| {
            format!(
                "<html><body><nav>menu</nav><article><p>{}</p><p>{para}</p></article><aside>{side}</aside></body></html>",
                "장성택 동지는 회의에 참가하였다. ".repeat(200)
            )
        };
        let old = page("first", "sidebar one");
        let base = Base {
            hash: hash(old.as_bytes()),
            raw: old.clone().into_bytes(),
        };
        let new = page("second", "sidebar two");
        let plain = Blob::compress(new.as_bytes(), hash(new.as_bytes())).expect("plain");
        let delta = Blob::compress_against_base(new.as_bytes(), hash(new.as_bytes()), Some(&base))
            .expect("delta");
        assert_eq!(delta.dict, Some(base.hash));
        assert!(
            delta.data.len() * 4 < plain.data.len(),
            "{} vs {}",
            delta.data.len(),
            plain.data.len()
        );
        assert_eq!(
            decompress_with(&delta.data, delta.size, &base.raw).expect("decompress"),
            new.as_bytes()
        );
        // No base, or the body is the base: plain.
        let none =
            Blob::compress_against_base(new.as_bytes(), hash(new.as_bytes()), None).expect("plain");
        assert_eq!(none.dict, None);
        let same =
            Blob::compress_against_base(old.as_bytes(), base.hash, Some(&base)).expect("plain");
        assert_eq!(same.dict, None);
        // A page unlike its base starts a new base.
        let other: String = (0u32..400).map(|i| hex(&hash(&i.to_le_bytes()))).collect();
        let far =
            Blob::compress_against_base(other.as_bytes(), hash(other.as_bytes()), Some(&base))
                .expect("plain");
        assert_eq!(far.dict, None);
        assert_eq!(
            decompress(&far.data, far.size).expect("decompress"),
            other.as_bytes()
        );
    }

    #[test]
    fn text_against_its_body() {
        let body = format!(
            "<html><body><nav>menu</nav><p>{}</p></body></html>",
            "장성택 동지는 회의에 참가하였다. ".repeat(50)
        );
        let text = "장성택 동지는 회의에 참가하였다. ".repeat(50);
        let plain = Blob::compress(text.as_bytes(), hash(text.as_bytes())).expect("plain");
        let with = Blob::compress_with(
            text.as_bytes(),
            hash(text.as_bytes()),
            (&hash(body.as_bytes()), body.as_bytes()),
        )
        .expect("dict");
        assert!(
            with.data.len() <= plain.data.len(),
            "{} > {}",
            with.data.len(),
            plain.data.len()
        );
        assert_eq!(with.dict, Some(hash(body.as_bytes())));
        assert_eq!(
            decompress_with(&with.data, with.size, body.as_bytes()).expect("decompress"),
            text.as_bytes()
        );
    }
}
