//! Detectors over what Observatory already sees: an anomaly detector on a check's
//! readings, and rules over log files.
//!
//! - [`anomaly`] judges one reading against the recent past (pure);
//! - [`history`] keeps each check's recent readings in memory, loaded once from
//!   the stored samples, and applies the detector to a result;
//! - [`logwatch`] follows a log file across rotation and counts rule matches (no
//!   timers of its own); [`logs`] runs it and records what its rules find.

pub mod anomaly;
pub mod history;
pub mod logs;
pub mod logwatch;
