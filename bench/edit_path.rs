//! The CPU cost of one edit, stage by stage, without a network or a database:
//! for every pair (base page, edited page) it times what a check does with an
//! edited page (extraction, the diff against the old text, compressing the
//! new body and text, reading the old text back).
//!
//!     cargo run --release --example edit_path -- BASE_DIR EDITED_DIR [N]
//!
//! BASE_DIR and EDITED_DIR are two outputs of `bench/gen_pages.py` with the
//! same seed (the second with `--edit-fraction 0.1 --edit-seed 1`); pages
//! whose bytes are the same in both are skipped. Prints microseconds per page
//! for each stage (median of 5 rounds over all pairs).

use palimpsest::detect::diff::diff;
use palimpsest::extract::{Rules, extract};
use palimpsest::store::blob::{self, Blob};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("a"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: edit_path BASE_DIR EDITED_DIR [N]");
        std::process::exit(64);
    }
    let limit: usize = args
        .get(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    let base_url = url::Url::parse("http://127.0.0.1/a/").expect("a constant URL");
    let rules = Rules::default();
    let mut pairs = Vec::new();
    for old in pages(Path::new(&args[1])) {
        let Some(name) = old.file_name() else {
            continue;
        };
        let new = Path::new(&args[2]).join("a").join(name);
        let (Ok(a), Ok(b)) = (std::fs::read_to_string(&old), std::fs::read_to_string(&new)) else {
            continue;
        };
        if a != b {
            pairs.push((a, b));
        }
        if pairs.len() >= limit {
            break;
        }
    }
    if pairs.is_empty() {
        eprintln!("no pages differ between the two directories");
        std::process::exit(1);
    }
    let texts: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| {
            let t = |s: &str| extract(s, "text/html", &base_url, &rules, s.len(), "").text();
            (t(a), t(b))
        })
        .collect();
    let stored: Vec<(Blob, Blob)> = pairs
        .iter()
        .zip(&texts)
        .map(|((a, _), (ta, _))| {
            let body = Blob::compress(a.as_bytes(), blob::hash(a.as_bytes())).expect("zstd");
            let text = Blob::compress_with(
                ta.as_bytes(),
                blob::hash(ta.as_bytes()),
                (&body.hash, a.as_bytes()),
            )
            .expect("zstd");
            (body, text)
        })
        .collect();

    let n = pairs.len() as f64;
    let stage = |name: &str, f: &mut dyn FnMut(usize)| {
        let mut rounds: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                for i in 0..pairs.len() {
                    f(i);
                }
                t.elapsed().as_secs_f64() * 1e6 / n
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!("{name:<34} {:>8.1} µs/page", rounds[2]);
        rounds[2]
    };
    println!(
        "{} edited pages, {:.0} bytes on average",
        pairs.len(),
        pairs.iter().map(|p| p.1.len()).sum::<usize>() as f64 / n
    );
    let mut total = 0.0;
    total += stage("extract (parse, survey, text)", &mut |i| {
        let (_, b) = &pairs[i];
        std::hint::black_box(extract(b, "text/html", &base_url, &rules, b.len(), ""));
    });
    let with_links = Rules::default().with_links();
    stage("(extract, also collecting links)", &mut |i| {
        let (_, b) = &pairs[i];
        std::hint::black_box(extract(b, "text/html", &base_url, &with_links, b.len(), ""));
    });
    total += stage("hash body and text (blake3)", &mut |i| {
        std::hint::black_box(blob::hash(pairs[i].1.as_bytes()));
        std::hint::black_box(blob::hash(texts[i].1.as_bytes()));
    });
    total += stage("read old text (body, then text)", &mut |i| {
        let (body, text) = &stored[i];
        let raw = blob::decompress(&body.data, body.size).expect("zstd");
        std::hint::black_box(blob::decompress_with(&text.data, text.size, &raw).expect("zstd"));
    });
    total += stage("diff old → new text", &mut |i| {
        std::hint::black_box(diff(&texts[i].0, &texts[i].1));
    });
    total += stage("compress new body", &mut |i| {
        let b = pairs[i].1.as_bytes();
        std::hint::black_box(Blob::compress(b, [0; 32]).expect("zstd"));
    });
    total += stage("compress new text against its body", &mut |i| {
        let b = pairs[i].1.as_bytes();
        let t = texts[i].1.as_bytes();
        std::hint::black_box(Blob::compress_with(t, [1; 32], (&[0; 32], b)).expect("zstd"));
    });
    println!("{:<34} {total:>8.1} µs/page", "total");
}
