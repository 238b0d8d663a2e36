//! Stop or keep, from the signals and the targets. Pure, so every rule is tested.

use super::signals::{Reading, Signal};
use serde::Serialize;

/// Tonight's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Stop,
    Keep,
}

/// The decision and every reason for it, each naming its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub decision: Verdict,
    pub reasons: Vec<String>,
}

/// Stops only when every signal was read and is quiet, and something can be stopped.
/// A signal that could not be read keeps staging up: wrongly stopping is worse than
/// one night of cost.
pub fn decide(signals: &[Signal], stoppable: usize, listing_errors: &[String]) -> Decision {
    let mut reasons: Vec<String> = signals.iter().map(Signal::line).collect();
    reasons.extend(
        listing_errors
            .iter()
            .map(|e| format!("AWS: could not list instances ({e}), so staging stays up")),
    );
    let busy = signals
        .iter()
        .any(|s| !matches!(s.reading, Reading::Quiet(_)))
        || !listing_errors.is_empty();
    let decision = if busy {
        Verdict::Keep
    } else if stoppable == 0 {
        reasons.push("no running instance to stop".into());
        Verdict::Keep
    } else {
        Verdict::Stop
    };
    Decision { decision, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(name: &str) -> Signal {
        Signal::new(name, Reading::Quiet("nothing recent".into()))
    }

    #[test]
    fn all_quiet_with_targets_stops() {
        let d = decide(&[quiet("GitHub"), quiet("Linear")], 3, &[]);
        assert_eq!(d.decision, Verdict::Stop);
        assert_eq!(d.reasons.len(), 2);
    }

    #[test]
    fn any_busy_or_unreadable_signal_keeps_and_says_which() {
        let busy = Signal::new("GitHub", Reading::Busy("push to acme/api 8 min ago".into()));
        let d = decide(&[busy, quiet("Linear")], 3, &[]);
        assert_eq!(d.decision, Verdict::Keep);
        assert!(d.reasons[0].contains("acme/api"));
        let down = Signal::new("Linear", Reading::Unreadable("Linear answered 500".into()));
        let d = decide(&[quiet("GitHub"), down], 3, &[]);
        assert_eq!(d.decision, Verdict::Keep);
        assert!(d.reasons[1].contains("could not be read (Linear answered 500)"));
    }

    #[test]
    fn nothing_to_stop_or_an_unlisted_region_keeps() {
        assert_eq!(decide(&[quiet("GitHub")], 0, &[]).decision, Verdict::Keep);
        let d = decide(&[quiet("GitHub")], 2, &["eu-west-1: Unavailable".into()]);
        assert_eq!(d.decision, Verdict::Keep);
        assert!(d.reasons[1].contains("eu-west-1"));
    }
}
