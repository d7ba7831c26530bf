//! placeholder replaced by the ui branch
use maud::{Markup, html};
pub struct Nav {
    pub csrf: String,
}
pub fn not_found(_nav: Option<&Nav>, what: &str) -> Markup {
    html! { p { "Not found: " (what) } }
}
pub fn unsubscribe_confirm(channel: &str, done: bool) -> Markup {
    html! { p { (channel) (done) } }
}
