//! What OpsMate shows outside chat: the web console (signed in with Slack), the
//! REST API under `/api/v1/` and its bearer tokens (`opsmate token
//! create|list|revoke`).

pub mod api;
pub mod cli;
pub mod console;
pub mod tokens;

use crate::approvals::Decided;
use crate::dispatch::Context;
use crate::executor::Hint;

/// What follows a decision made outside chat (the console, the API): an approval
/// goes to the executor, which rewrites its chat messages when it ends; a
/// rejection's messages are rewritten now.
pub async fn after_decision(ctx: &Context, decided: &Decided) -> anyhow::Result<()> {
    match decided {
        Decided::Approved(p) => {
            ctx.executor.submit(p.id.clone(), Hint::default());
            Ok(())
        }
        Decided::Rejected(p) => crate::chat::handle::show_outcome(ctx, p, &Hint::default()).await,
        Decided::NeedsMoreApprovals { .. } => Ok(()),
    }
}
