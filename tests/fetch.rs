//! The fetcher's guarantees against a real server on 127.0.0.1.

mod common;

use common::*;
use palimpsest::config::validate_source;
use palimpsest::fetch::{FetchError, Fetcher, Validators};

fn fetcher(fetch: &str) -> Fetcher {
    let cfg = validate_source(&format!("[fetch]\n{fetch}\n"), "t.toml", None).expect("config");
    Fetcher::new(&cfg.fetch).expect("fetcher")
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).expect("url")
}

#[tokio::test]
async fn a_dripping_server_hits_the_total_timeout() {
    let site = TestSite::start().await;
    let mut page = Page::html("<html><body>slow</body></html>".repeat(4));
    page.drip = true;
    site.set("/drip", page);
    let f = fetcher("timeout = \"2s\"\nread_timeout = \"10s\"\nallow_private_networks = true");
    let started = std::time::Instant::now();
    let err = f
        .fetch(&url(&site.url("/drip")), &Validators::default())
        .await
        .expect_err("must time out");
    assert!(matches!(err, FetchError::Timeout(_)), "{err:?}");
    assert_eq!(err.class(), "timeout");
    // It gave up, rather than reading a hundred seconds of drip.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn redirect_chain_is_recorded() {
    let site = TestSite::start().await;
    site.set("/r1", Page::redirect(302, "/r2"));
    site.set("/r2", Page::redirect(301, &site.url("/final")));
    site.set_html("/final", "<p>here</p>");
    let f = fetcher("allow_private_networks = true");
    let got = f
        .fetch(&url(&site.url("/r1")), &Validators::default())
        .await
        .expect("fetch");
    assert_eq!(got.status, 200);
    assert_eq!(got.final_url.as_str(), site.url("/final"));
    let hops: Vec<(String, u16)> = got
        .redirects
        .iter()
        .map(|h| (h.url.clone(), h.status))
        .collect();
    assert_eq!(hops, vec![(site.url("/r1"), 302), (site.url("/r2"), 301)]);

    // A loop stops at the limit, naming it.
    site.set("/loop", Page::redirect(302, "/loop"));
    let f = fetcher("allow_private_networks = true\nmax_redirects = 3");
    let err = f
        .fetch(&url(&site.url("/loop")), &Validators::default())
        .await
        .expect_err("loop");
    assert!(
        matches!(err, FetchError::TooManyRedirects { limit: 3, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let site = TestSite::start().await;
    site.set_html("/p", "<p>private</p>");
    let port = site.addr.port();

    // An IP literal.
    let f = fetcher("");
    let err = f
        .fetch(
            &url(&format!("http://127.0.0.1:{port}/p")),
            &Validators::default(),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, FetchError::Refused(_)), "{err:?}");
    assert!(
        err.to_string().contains("allow_private_networks = true"),
        "{err}"
    );

    // A name that resolves to loopback: refused on the address actually dialled.
    let err = f
        .fetch(
            &url(&format!("http://localhost:{port}/p")),
            &Validators::default(),
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, FetchError::Refused(_)), "{err:?}");

    // A redirect hop to 127.0.0.1, from a host that is allowed.
    site.set(
        "/jump",
        Page::redirect(302, &format!("http://127.0.0.1:{port}/p")),
    );
    let f = fetcher("allow_hosts = [\"localhost\"]");
    let ok = f
        .fetch(
            &url(&format!("http://localhost:{port}/p")),
            &Validators::default(),
        )
        .await
        .expect("allowed host");
    assert_eq!(ok.status, 200);
    let err = f
        .fetch(
            &url(&format!("http://localhost:{port}/jump")),
            &Validators::default(),
        )
        .await
        .expect_err("hop refused");
    assert!(matches!(err, FetchError::Refused(_)), "{err:?}");
    assert_eq!(
        site.requests("/p").len(),
        1,
        "the refused hop never reached the server"
    );

    // Other schemes are not fetched at all.
    let err = f
        .fetch(&url("file:///etc/passwd"), &Validators::default())
        .await
        .expect_err("scheme");
    assert!(matches!(err, FetchError::Scheme(_)), "{err:?}");
}

#[tokio::test]
async fn sends_validators_and_user_agent() {
    let site = TestSite::start().await;
    site.set("/e", Page::html("<p>etag page</p>").with_etag());
    let f = fetcher("allow_private_networks = true");
    let first = f
        .fetch(&url(&site.url("/e")), &Validators::default())
        .await
        .expect("fetch");
    assert!(first.validators.etag.is_some());
    let second = f
        .fetch(&url(&site.url("/e")), &first.validators)
        .await
        .expect("fetch");
    assert_eq!(second.status, 304);
    assert!(second.body.is_empty());
    assert_eq!(site.requests("/e"), vec![(false, 200), (true, 304)]);
}
