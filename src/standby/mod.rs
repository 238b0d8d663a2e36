//! A standby machine: LiteFS replicates the SQLite file to a second machine and
//! holds the primary lease; OpsMate follows the lease.
//!
//! - [`role`]: which machine is primary, from LiteFS's `.primary` file, watched.
//! - [`replay`]: a replica answers writes with `fly-replay`, so Fly's proxy sends
//!   them to the primary.
//! - [`serve`]: one HTTP server for the life of the process, in front of the app of
//!   the current role: a promotion builds the primary's app (migrations, recovery of
//!   what the old primary left, then its work), a demotion fences the database and
//!   cuts the primary's work off before serving as a replica.
//!
//! Without `standby.primary_file` none of this runs: the machine is the primary.

pub mod replay;
pub mod role;
pub mod serve;

pub use role::{Role, RoleWatch};
