//! placeholder replaced by the ops branch
#[derive(Default)]
pub struct Snapshot {
    pub watches_by_status: Vec<(String, i64)>,
    pub oldest_pending_delivery_age: Option<std::time::Duration>,
}
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub struct Metrics;
impl Metrics {
    pub fn new() -> Metrics {
        Metrics
    }
    pub fn record_check(&self, _outcome: &str, _duration: std::time::Duration, _bytes: u64) {}
    pub fn record_event(&self, _kind: &str) {}
    pub fn record_delivery(&self, _outcome: &str) {}
    pub fn encode(&self, _snap: &Snapshot) -> String {
        String::new()
    }
}
