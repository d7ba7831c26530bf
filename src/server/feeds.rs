//! placeholder replaced by the ops branch
pub struct FeedEntry {
    pub id: i64,
    pub watch_name: String,
    pub watch_url: String,
    pub kind: String,
    pub created_at: i64,
    pub summary: String,
    pub link: String,
}
pub fn atom(_t: &str, _id: &str, _s: &str, _a: &str, _e: &[FeedEntry]) -> String {
    String::new()
}
