//! Charset detection in browser order, decoding with encoding_rs.
//!
//! 1. a byte order mark;
//! 2. the `charset` parameter of `Content-Type`;
//! 3. for HTML, a `<meta charset>` or `<meta http-equiv>` in the first 1024 bytes;
//! 4. chardetng, with the URL's top-level domain as a hint.
//!
//! `reqwest::Response::text()` skips step 3, which is why pages are never
//! decoded with it.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
use regex::bytes::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// How the encoding was decided, for the check record and `palimpsest check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bom,
    Header,
    Meta,
    Detected,
}

static META_CHARSET: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)<meta\s[^>]*?charset\s*=\s*["']?\s*([a-z0-9_\-:.]+)"#).ok()
});

/// Decodes `body`. `charset_param` is the `charset` of `Content-Type`, if
/// any; `html` enables the meta prescan; `url` gives the TLD hint.
pub fn decode<'a>(
    body: &'a [u8],
    charset_param: Option<&str>,
    html: bool,
    url: &url::Url,
) -> (Cow<'a, str>, &'static Encoding, Source) {
    if let Some((enc, bom_len)) = Encoding::for_bom(body) {
        let rest = body.get(bom_len..).unwrap_or_default();
        return (enc.decode_without_bom_handling(rest).0, enc, Source::Bom);
    }
    if let Some(enc) = charset_param
        .and_then(|c| Encoding::for_label(c.trim().trim_matches(['"', '\'']).as_bytes()))
    {
        return (enc.decode_without_bom_handling(body).0, enc, Source::Header);
    }
    if html && let Some(enc) = meta_charset(body) {
        return (enc.decode_without_bom_handling(body).0, enc, Source::Meta);
    }
    let enc = detect(body, url);
    (
        enc.decode_without_bom_handling(body).0,
        enc,
        Source::Detected,
    )
}

/// The encoding a `<meta>` in the first 1024 bytes declares.
pub fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = body.get(..body.len().min(1024)).unwrap_or(body);
    let re = META_CHARSET.as_ref()?;
    let label = re.captures(head)?.get(1)?.as_bytes();
    let enc = Encoding::for_label(label)?;
    // The HTML standard: a meta that claims UTF-16 means UTF-8, x-user-defined means windows-1252.
    Some(
        if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
            UTF_8
        } else if enc == encoding_rs::X_USER_DEFINED {
            WINDOWS_1252
        } else {
            enc
        },
    )
}

fn detect(body: &[u8], url: &url::Url) -> &'static Encoding {
    if std::str::from_utf8(body).is_ok() {
        return UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(body, true);
    let tld = url
        .host_str()
        .and_then(|h| h.rsplit('.').next())
        .filter(|t| t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    det.guess(tld.map(str::as_bytes), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> url::Url {
        url::Url::parse("http://www.example.kr/").expect("url")
    }

    #[test]
    fn meta_euc_kr() {
        let (bytes, _, _) = encoding_rs::EUC_KR
            .encode("<html><head><meta charset=\"euc-kr\"></head><body>장성택</body></html>");
        let (text, enc, src) = decode(&bytes, None, true, &url());
        assert_eq!(enc, encoding_rs::EUC_KR);
        assert_eq!(src, Source::Meta);
        assert!(text.contains("장성택"));
    }

    #[test]
    fn http_equiv_and_header_precedence() {
        let (bytes, _, _) = encoding_rs::EUC_KR
            .encode("<meta http-equiv='Content-Type' content='text/html; charset=EUC-KR'>한국");
        assert_eq!(decode(&bytes, None, true, &url()).1, encoding_rs::EUC_KR);
        // The header wins over the meta.
        assert_eq!(
            decode(b"<meta charset=euc-kr>abc", Some("utf-8"), true, &url()).1,
            UTF_8
        );
    }

    #[test]
    fn bom_wins() {
        let mut body = vec![0xEF, 0xBB, 0xBF];
        body.extend_from_slice("<meta charset=euc-kr>é".as_bytes());
        let (text, enc, src) = decode(&body, Some("iso-8859-1"), true, &url());
        assert_eq!((enc, src), (UTF_8, Source::Bom));
        assert!(text.ends_with('é'));
    }

    #[test]
    fn detects_without_declaration() {
        let (bytes, _, _) = encoding_rs::EUC_KR.encode("조선민주주의인민공화국 평양 소식입니다. 오늘 날씨는 맑습니다. 장성택 동지는 회의에 참가하였습니다.");
        let (text, enc, src) = decode(&bytes, None, true, &url());
        assert_eq!(src, Source::Detected);
        assert_eq!(enc, encoding_rs::EUC_KR, "{text}");
    }

    #[test]
    fn meta_utf16_means_utf8() {
        assert_eq!(meta_charset(b"<meta charset=utf-16>"), Some(UTF_8));
        assert_eq!(meta_charset(b"<p>no meta</p>"), None);
    }
}
