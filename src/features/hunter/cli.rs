//! `opsmate zombies`: the scan on the command line, with no chat and no deletion.

use super::{Hunter, hunt, table};
use crate::config::Loaded;
use crate::errors::exit_code;
use crate::plugin::{CliCommand, cli_args};
use crate::store::Store;
use clap::{CommandFactory, Parser};

pub const CLI: &[CliCommand] = &[CliCommand {
    command: ZombiesArgs::command,
    run: |loaded, matches| {
        let args: ZombiesArgs = cli_args(matches)?;
        zombies(loaded, &args.regions, args.json)
    },
}];

/// List idle EBS volumes, old snapshots and Elastic IPs with their monthly cost.
/// No chat needed; nothing is deleted. Exits 1 if a region could not be scanned.
#[derive(Debug, Parser)]
#[command(name = "zombies")]
pub struct ZombiesArgs {
    /// Scan only this region (repeatable); default: hunter.regions or aws.regions.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn zombies(loaded: &Loaded, regions: &[String], json: bool) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = &loaded.config;
        let (path, busy) = (config.storage.path.clone(), config.storage.busy_timeout);
        let store = tokio::task::spawn_blocking(move || Store::open(&path, busy)).await??;
        let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
        let audit = crate::audit::Audit::new(store.clone(), clock.clone());
        let aws = crate::cloud::Aws::load(&config.aws).await;
        let hunter = Hunter::new(config, &aws).await?;
        let result = hunt::hunt(&hunter, &store, &audit, clock.now(), regions, "cli").await?;
        let mut out = std::io::stdout().lock();
        if json {
            table::write_json(&mut out, &result)?;
        } else {
            table::write_table(&mut out, &result)?;
        }
        table::write_regions(&mut std::io::stderr().lock(), &result)?;
        Ok(if result.failed_regions().next().is_some() {
            exit_code::CHECK_FAILED
        } else {
            exit_code::OK
        })
    })
}
