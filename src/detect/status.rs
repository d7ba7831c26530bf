//! Page status: whether a page is there, gone, unreachable or blocked, and
//! when a change of status becomes an event.
//!
//! A monitor that alerts on every failed fetch floods its users: servers
//! hiccup, CDNs answer 503 for a minute, a deploy returns 404 for a second.
//! So every bad answer is first a *condition* ([`Condition`]) that later
//! checks must confirm:
//!
//! * **gone** (404, 410, a redirect away from the article, a soft 404):
//!   `deleted` after `confirm_checks` consecutive checks that see it (the
//!   check after the first sighting comes `confirm_spacing` later);
//! * **failed** (network errors, timeouts, TLS, 5xx): `unreachable` only
//!   when failures have lasted `unreachable_after` *and* at least
//!   `unreachable_checks` checks; never `deleted`;
//! * **blocked** (401, 403, 429, 451, bot walls): `blocked`, with the same
//!   persistence rule as failures; never `deleted`.
//!
//! When content comes back, a deleted page is `restored` and an unreachable
//! or blocked one is `reachable`; a condition that was never confirmed is
//! dropped without a word. Each status is alerted once: a deleted page that
//! stays deleted raises nothing more.
//!
//! [`transition`] is a pure function of the stored status, the pending
//! condition, what this check observed and the time, so every rule here is
//! unit-tested without a server.

use crate::model::Millis;
use serde::{Deserialize, Serialize};

/// The alerted status of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStatus {
    #[default]
    Ok,
    Deleted,
    Unreachable,
    Blocked,
}

impl PageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PageStatus::Ok => "ok",
            PageStatus::Deleted => "deleted",
            PageStatus::Unreachable => "unreachable",
            PageStatus::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> PageStatus {
        match s {
            "deleted" => PageStatus::Deleted,
            "unreachable" => PageStatus::Unreachable,
            "blocked" => PageStatus::Blocked,
            _ => PageStatus::Ok,
        }
    }
}

/// How a page is gone (the `how` of a `deleted` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoneHow {
    #[serde(rename = "404")]
    NotFound,
    #[serde(rename = "410")]
    Gone,
    #[serde(rename = "redirect")]
    Redirect,
    #[serde(rename = "soft404")]
    Soft404,
}

impl GoneHow {
    pub fn as_str(self) -> &'static str {
        match self {
            GoneHow::NotFound => "404",
            GoneHow::Gone => "410",
            GoneHow::Redirect => "redirect",
            GoneHow::Soft404 => "soft404",
        }
    }
}

/// What one check saw, reduced to what the status rules need.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The page answered with its content (or a 304 for it).
    Content,
    /// The page is gone.
    Gone {
        how: GoneHow,
        http_status: Option<u16>,
        /// Where a redirect went.
        target: Option<String>,
        /// Why a 200 was judged a "not found" page.
        reason: Option<String>,
    },
    /// The server refuses us (401, 403, 429, 451, a bot wall).
    Blocked {
        http_status: Option<u16>,
        reason: String,
    },
    /// Network error, timeout, TLS failure, 5xx, any other error status.
    Failed {
        class: String,
        http_status: Option<u16>,
    },
}

/// The kind of a pending or confirmed condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CondKind {
    Deleted,
    Unreachable,
    Blocked,
}

/// A bad answer waiting for confirmation (stored with the watch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub kind: CondKind,
    /// When the first check saw it.
    pub since: Millis,
    /// Consecutive checks that saw it.
    pub checks: u32,
    /// `deleted`: the how; `unreachable`: the error class; `blocked`: the reason.
    pub how: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The thresholds of the rules (from `[detect]`).
#[derive(Debug, Clone, Copy)]
pub struct StatusRules {
    pub confirm_checks: u32,
    pub unreachable_after_ms: i64,
    pub unreachable_checks: u32,
}

/// A status change that is an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Raised {
    Deleted(Condition),
    Unreachable(Condition),
    Blocked(Condition),
    /// A deleted page has content again.
    Restored,
    /// An unreachable or blocked page answers again; `after` says which.
    Reachable {
        after: PageStatus,
    },
}

/// The outcome of [`transition`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub status: PageStatus,
    pub pending: Option<Condition>,
    pub raised: Option<Raised>,
    /// A deletion waits for its confirming check: schedule it soon.
    pub confirm_soon: bool,
}

/// Applies one observation to a page's status.
pub fn transition(
    status: PageStatus,
    pending: Option<&Condition>,
    obs: &Observation,
    now: Millis,
    rules: StatusRules,
) -> Transition {
    let stay = |pending: Option<Condition>| Transition {
        status,
        pending,
        raised: None,
        confirm_soon: false,
    };
    // The condition continued, or a new one started.
    let grow = |kind: CondKind, how: &str, http_status, target: &Option<String>, reason| {
        let mut c = match pending {
            Some(p) if p.kind == kind => p.clone(),
            _ => Condition {
                kind,
                since: now,
                checks: 0,
                how: String::new(),
                http_status: None,
                target: None,
                reason: None,
            },
        };
        c.checks = c.checks.saturating_add(1);
        c.how = how.to_string();
        c.http_status = http_status;
        c.target = target.clone();
        c.reason = reason;
        c
    };
    let persisted = |c: &Condition| {
        c.checks >= rules.unreachable_checks.max(1)
            && now.saturating_sub(c.since) >= rules.unreachable_after_ms
    };
    match obs {
        Observation::Content => match status {
            PageStatus::Deleted => Transition {
                status: PageStatus::Ok,
                pending: None,
                raised: Some(Raised::Restored),
                confirm_soon: false,
            },
            PageStatus::Unreachable | PageStatus::Blocked => Transition {
                status: PageStatus::Ok,
                pending: None,
                raised: Some(Raised::Reachable { after: status }),
                confirm_soon: false,
            },
            // An unconfirmed condition is forgotten: it was a hiccup.
            PageStatus::Ok => stay(None),
        },
        Observation::Gone {
            how,
            http_status,
            target,
            reason,
        } => {
            if status == PageStatus::Deleted {
                return stay(None);
            }
            let c = grow(
                CondKind::Deleted,
                how.as_str(),
                *http_status,
                target,
                reason.clone(),
            );
            if c.checks >= rules.confirm_checks.max(1) {
                Transition {
                    status: PageStatus::Deleted,
                    pending: None,
                    raised: Some(Raised::Deleted(c)),
                    confirm_soon: false,
                }
            } else {
                Transition {
                    status,
                    pending: Some(c),
                    raised: None,
                    confirm_soon: true,
                }
            }
        }
        Observation::Blocked {
            http_status,
            reason,
        } => {
            if matches!(status, PageStatus::Blocked | PageStatus::Deleted) {
                return stay(None);
            }
            let c = grow(
                CondKind::Blocked,
                reason,
                *http_status,
                &None,
                Some(reason.clone()),
            );
            if persisted(&c) {
                Transition {
                    status: PageStatus::Blocked,
                    pending: None,
                    raised: Some(Raised::Blocked(c)),
                    confirm_soon: false,
                }
            } else {
                stay(Some(c))
            }
        }
        Observation::Failed { class, http_status } => {
            if matches!(status, PageStatus::Unreachable | PageStatus::Deleted) {
                return stay(None);
            }
            // A failure neither confirms nor cancels a pending deletion.
            if let Some(p) = pending.filter(|p| p.kind == CondKind::Deleted) {
                return stay(Some(p.clone()));
            }
            let c = grow(CondKind::Unreachable, class, *http_status, &None, None);
            if persisted(&c) {
                Transition {
                    status: PageStatus::Unreachable,
                    pending: None,
                    raised: Some(Raised::Unreachable(c)),
                    confirm_soon: false,
                }
            } else {
                stay(Some(c))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: StatusRules = StatusRules {
        confirm_checks: 2,
        unreachable_after_ms: 24 * 3600 * 1000,
        unreachable_checks: 3,
    };
    const HOUR: i64 = 3600 * 1000;

    fn gone(how: GoneHow) -> Observation {
        Observation::Gone {
            how,
            http_status: Some(404),
            target: None,
            reason: None,
        }
    }

    fn fail() -> Observation {
        Observation::Failed {
            class: "http_503".into(),
            http_status: Some(503),
        }
    }

    /// Runs observations one hour apart from `Ok`; returns every transition.
    fn run(obs: &[Observation]) -> Vec<Transition> {
        let (mut status, mut pending) = (PageStatus::Ok, None);
        let mut out = Vec::new();
        for (i, o) in obs.iter().enumerate() {
            let t = transition(status, pending.as_ref(), o, i as i64 * HOUR, RULES);
            status = t.status;
            pending = t.pending.clone();
            out.push(t);
        }
        out
    }

    #[test]
    fn a_deletion_is_confirmed_by_the_second_check_and_alerted_once() {
        let t = run(&[
            gone(GoneHow::NotFound),
            gone(GoneHow::NotFound),
            gone(GoneHow::NotFound),
        ]);
        assert!(t[0].raised.is_none() && t[0].confirm_soon);
        assert!(
            matches!(&t[1].raised, Some(Raised::Deleted(c)) if c.how == "404" && c.checks == 2 && c.since == 0)
        );
        assert_eq!(t[1].status, PageStatus::Deleted);
        assert!(t[2].raised.is_none(), "no repeat");
    }

    #[test]
    fn one_bad_answer_is_forgotten() {
        let t = run(&[
            gone(GoneHow::Gone),
            Observation::Content,
            gone(GoneHow::Gone),
        ]);
        assert!(t.iter().all(|t| t.raised.is_none()));
        assert_eq!(t[1].pending, None);
        assert_eq!(t[2].pending.as_ref().map(|c| c.checks), Some(1));
    }

    #[test]
    fn restored_after_deleted() {
        let t = run(&[
            gone(GoneHow::Redirect),
            gone(GoneHow::Redirect),
            Observation::Content,
        ]);
        assert_eq!(t[2].raised, Some(Raised::Restored));
        assert_eq!(t[2].status, PageStatus::Ok);
    }

    #[test]
    fn failures_need_time_and_checks_and_never_delete() {
        // Three failures within a few hours: nothing.
        assert!(
            run(&[fail(), fail(), fail()])
                .iter()
                .all(|t| t.raised.is_none())
        );
        // Failures spread over more than a day: unreachable once, then reachable.
        let (mut status, mut pending) = (PageStatus::Ok, None);
        let mut raised = Vec::new();
        for (i, o) in [fail(), fail(), fail(), fail(), Observation::Content]
            .iter()
            .enumerate()
        {
            let t = transition(status, pending.as_ref(), o, i as i64 * 12 * HOUR, RULES);
            status = t.status;
            pending = t.pending.clone();
            raised.extend(t.raised);
        }
        assert!(matches!(raised[0], Raised::Unreachable(ref c) if c.checks == 3));
        assert_eq!(
            raised[1],
            Raised::Reachable {
                after: PageStatus::Unreachable
            }
        );
        assert_eq!(raised.len(), 2);
    }

    #[test]
    fn a_failure_does_not_cancel_a_pending_deletion() {
        let t = run(&[gone(GoneHow::NotFound), fail(), gone(GoneHow::NotFound)]);
        assert_eq!(t[1].pending.as_ref().map(|c| c.checks), Some(1));
        assert!(matches!(t[2].raised, Some(Raised::Deleted(_))));
    }

    #[test]
    fn blocked_is_not_deleted() {
        let blocked = Observation::Blocked {
            http_status: Some(429),
            reason: "429".into(),
        };
        let t = run(&[blocked.clone(), blocked.clone()]);
        assert!(
            t.iter()
                .all(|t| t.raised.is_none() && t.status == PageStatus::Ok)
        );
    }

    #[test]
    fn condition_round_trips_as_json() {
        let c = Condition {
            kind: CondKind::Deleted,
            since: 5,
            checks: 1,
            how: "redirect".into(),
            http_status: Some(301),
            target: Some("http://x/".into()),
            reason: None,
        };
        let s = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Condition>(&s).ok(), Some(c));
    }
}
