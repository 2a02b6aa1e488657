//! The faults the soak injects, one at a time, and how:
//!
//! | fault | how |
//! |---|---|
//! | DynamoDB frozen | SIGSTOP to DynamoDB Local's process group, SIGCONT after the hold |
//! | DynamoDB errors | the proxy in front of DynamoDB Local answers a share of calls with `TransactionConflict` (transactions), `ThrottlingException`, `ProvisionedThroughputExceededException` or a 500 |
//! | Stripe down | localstripe stopped (SIGTERM; it saves its objects), restarted on its port after the hold, the webhook endpoint registered again |
//! | moto frozen | SIGSTOP/SIGCONT to moto (Cognito, SES, EventBridge, SQS, Secrets Manager) |
//! | webhooks twice and late | the webhook relay delivers every webhook twice, every third after the payment window |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use local::emulators::EmulatorOptions;
use local::venv::Venv;

use super::check::FaultWindow;
use super::relay::Relay;
use crate::bench::proxy::Faults;
use crate::stack::Stack;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    DynamoFrozen,
    DynamoErrors,
    StripeDown,
    MotoFrozen,
    WebhooksTwiceAndLate,
}

impl FaultKind {
    pub const CYCLE: [FaultKind; 5] =
        [Self::DynamoFrozen, Self::DynamoErrors, Self::StripeDown, Self::MotoFrozen, Self::WebhooksTwiceAndLate];

    pub fn name(self) -> &'static str {
        match self {
            Self::DynamoFrozen => "DynamoDB frozen (SIGSTOP)",
            Self::DynamoErrors => "DynamoDB errors (conflicts, throttling, 500s)",
            Self::StripeDown => "localstripe killed and restarted",
            Self::MotoFrozen => "moto frozen (SIGSTOP)",
            Self::WebhooksTwiceAndLate => "webhooks twice and late",
        }
    }

    /// How long it is held at most; the plan shortens it to fit its slot.
    pub fn hold(self) -> Duration {
        match self {
            Self::DynamoFrozen | Self::MotoFrozen => Duration::from_secs(5),
            Self::StripeDown => Duration::from_secs(6),
            Self::DynamoErrors | Self::WebhooksTwiceAndLate => Duration::from_secs(25),
        }
    }

    /// A webhook delivered twice or late must not make the stack answer any request with a
    /// 5xx; every other fault may, while it lasts.
    pub fn may_fail_requests(self) -> bool {
        self != Self::WebhooksTwiceAndLate
    }
}

/// What injecting needs.
pub struct Injector<'a> {
    pub stack: &'a mut Stack,
    pub venv: &'a Venv,
    pub faults: Arc<Faults>,
    pub relay: &'a Relay,
    pub stripe_state: PathBuf,
    pub log_dir: PathBuf,
    pub started: Instant,
    /// Share of DynamoDB calls answered with an error during [`FaultKind::DynamoErrors`].
    pub error_per_mille: u32,
    restarts: u32,
}

impl<'a> Injector<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stack: &'a mut Stack,
        venv: &'a Venv,
        faults: Arc<Faults>,
        relay: &'a Relay,
        stripe_state: PathBuf,
        log_dir: PathBuf,
        started: Instant,
        error_per_mille: u32,
    ) -> Self {
        Self { stack, venv, faults, relay, stripe_state, log_dir, started, error_per_mille, restarts: 0 }
    }

    /// Injects `kind` for `hold`, then ends it; the window it was on.
    pub async fn inject(&mut self, kind: FaultKind, hold: Duration) -> anyhow::Result<FaultWindow> {
        let start = self.started.elapsed();
        eprintln!("soak: {:>5.1} s  fault on:  {} for {:.0} s", start.as_secs_f64(), kind.name(), hold.as_secs_f64());
        let outcome = match kind {
            FaultKind::DynamoFrozen => {
                self.stack.dynamodb.pause()?;
                tokio::time::sleep(hold).await;
                self.stack.dynamodb.resume()
            }
            FaultKind::MotoFrozen => {
                self.stack.moto.pause()?;
                tokio::time::sleep(hold).await;
                self.stack.moto.resume()
            }
            FaultKind::DynamoErrors => {
                self.faults.switch_on(self.error_per_mille);
                tokio::time::sleep(hold).await;
                self.faults.switch_off();
                Ok(())
            }
            FaultKind::WebhooksTwiceAndLate => {
                self.relay.set_twice_and_late(true);
                tokio::time::sleep(hold).await;
                self.relay.set_twice_and_late(false);
                Ok(())
            }
            FaultKind::StripeDown => self.restart_stripe(hold).await,
        };
        let end = self.started.elapsed();
        eprintln!("soak: {:>5.1} s  fault off: {}", end.as_secs_f64(), kind.name());
        outcome?;
        Ok(FaultWindow {
            name: kind.name(),
            start,
            end,
            may_fail_requests: kind.may_fail_requests(),
            bus_unreachable: kind == FaultKind::MotoFrozen,
        })
    }

    async fn restart_stripe(&mut self, hold: Duration) -> anyhow::Result<()> {
        let port = self.stack.stripe.port();
        self.stack.stripe.terminate(Duration::from_secs(10)).await;
        tokio::time::sleep(hold).await;
        self.restarts += 1;
        let log_dir = self.log_dir.join(format!("localstripe-restart-{}", self.restarts));
        let opts = EmulatorOptions::new(Some(port), log_dir);
        let stripe = local::emulators::start_localstripe_with_state(self.venv, &opts, Some(&self.stripe_state))
            .await
            .context("restarting localstripe")?;
        self.stack.stripe = stripe;
        // localstripe keeps its webhook endpoints in memory.
        let info = &self.stack.info.stripe;
        local::stripe::register_webhook(&info.api_base, &self.relay.url(), &info.webhook_secret)
            .await
            .context("registering the webhook relay again after the restart")
    }
}

/// When each fault starts (since the soak's start) and how long it is held: the faults of
/// [`FaultKind::CYCLE`] in turn, spread over the middle of the run (the first and last
/// fifth stay clean, to compare), each held at most its own hold or 60% of its slot.
pub fn plan(total: Duration, kinds: &[FaultKind]) -> Vec<(Duration, FaultKind, Duration)> {
    let clean = total / 5;
    let middle = total.saturating_sub(clean * 2);
    let slots = if kinds.is_empty() { return Vec::new() } else { kinds.len() as u32 };
    // One cycle per 3 minutes of middle, at least one.
    let cycles = (middle.as_secs() / 180).max(1) as u32;
    let slot = middle / (slots * cycles);
    let mut out = Vec::new();
    for c in 0..cycles {
        for (i, kind) in kinds.iter().enumerate() {
            let at = clean + slot * (c * slots + i as u32);
            let hold = kind.hold().min(slot.mul_f64(0.6));
            out.push((at, *kind, hold));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fill_the_middle_of_the_run_one_at_a_time() {
        let total = Duration::from_secs(300);
        let plan = plan(total, &FaultKind::CYCLE);
        assert_eq!(plan.len(), 5);
        assert_eq!(plan[0].0, Duration::from_secs(60), "a clean first fifth");
        for pair in plan.windows(2) {
            assert!(pair[0].0 + pair[0].2 < pair[1].0, "one at a time: {pair:?}");
        }
        let (last_at, _, last_hold) = plan[4];
        assert!(last_at + last_hold <= Duration::from_secs(240), "a clean last fifth");
        assert_eq!(self::plan(Duration::from_secs(900), &FaultKind::CYCLE).len(), 15, "a cycle per 3 minutes");
        let short = self::plan(Duration::from_secs(60), &FaultKind::CYCLE);
        assert!(short.iter().all(|(_, _, hold)| *hold <= Duration::from_millis(4320)), "{short:?}");
    }
}
