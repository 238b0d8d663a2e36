//! The `opsmate` command line.

use crate::app::{App, AppOptions, shutdown_signal};
use crate::audit::{self, Verification, export::ExportFormat};
use crate::config::{self, ConfigError, Loaded};
use crate::errors::exit_code;
use crate::features;
use crate::store::{Store, migrations};
use crate::telemetry::{self, LogFormat};
use anyhow::Context;
use clap::{FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(
    name = "opsmate",
    version,
    about = "Chatops for AWS hygiene: every destructive step waits for a human."
)]
pub struct Cli {
    /// Configuration file (else $OPSMATE_CONFIG, else ./opsmate.toml, else defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format on standard error. Levels come from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// A core command; `None` when the subcommand is a feature's (see
    /// [`crate::plugin::Plug::cli`]).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The whole command line: the core's commands, then every feature's.
    pub fn command_line() -> clap::Command {
        let features = features::ALL.iter().flat_map(|plug| plug.cli);
        features
            .fold(<Cli as clap::CommandFactory>::command(), |cmd, c| {
                cmd.subcommand((c.command)())
            })
            .subcommand_required(true)
            .arg_required_else_help(true)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot: HTTP server, scheduler, outbox sender.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Audit log commands.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// REST API tokens.
    Token {
        #[command(subcommand)]
        command: crate::web::cli::TokenCommand,
    },
    /// Exit 0 if the local server's /healthz answers 200 (for container health checks).
    Probe,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and check it reaches every head posted in a digest (and
    /// each --head); exit 1 and name the first broken row if there is one.
    Verify {
        /// A head copied from a daily digest or /readyz, as ID:HASH; repeatable.
        /// Checked against the chain whatever the database says was posted.
        #[arg(long = "head", value_name = "ID:HASH")]
        heads: Vec<audit::Head>,
    },
    /// Print the most recent rows.
    Tail {
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
    },
    /// Write the whole log to standard output (or --output).
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Entry point used by `main`. Returns the process exit code.
pub fn main() -> i32 {
    let matches = Cli::command_line().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    telemetry::init(cli.log_format);
    let env: config::load::Env = std::env::vars().collect();
    let loaded = match config::load(cli.config.as_deref(), &env) {
        Ok(l) => l,
        Err(e) => return config_error(&e),
    };
    let outcome = match (cli.command, matches.subcommand()) {
        (Some(command), _) => run(command, &loaded),
        (None, Some((name, args))) => match features::ALL
            .iter()
            .flat_map(|plug| plug.cli)
            .find(|c| (c.command)().get_name() == name)
        {
            Some(c) => (c.run)(&loaded, args),
            None => Err(anyhow::anyhow!("unknown command {name}")),
        },
        (None, None) => Err(anyhow::anyhow!("no command given; see opsmate --help")),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code::CHECK_FAILED
        }
    }
}

fn config_error(e: &ConfigError) -> i32 {
    eprintln!("configuration error: {e}");
    exit_code::BAD_CONFIG
}

fn run(command: Command, loaded: &Loaded) -> anyhow::Result<i32> {
    match command {
        Command::Serve => serve(loaded),
        Command::Migrate => migrate(loaded),
        Command::Config {
            command: ConfigCommand::Check,
        } => config_check(loaded),
        Command::Audit { command } => audit_command(command, loaded),
        Command::Token { command } => crate::web::cli::run(command, &open_store(loaded)?),
        Command::Probe => probe(loaded),
    }
}

fn serve(loaded: &Loaded) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("opsmate")
        .build()?;
    runtime.block_on(async {
        // One machine builds its app before binding, so a bad start never answers
        // /healthz. A standby machine binds first: it serves (reads, or 503 while it
        // waits for the primary's database) whatever its role.
        let standby = loaded.config.standby.primary_file.is_some();
        let app = match standby {
            false => Some(App::build(loaded, AppOptions::default()).await?),
            true => None,
        };
        let listen = loaded.config.http.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| {
                format!("binding {listen} (set http.listen or OPSMATE_HTTP__LISTEN)")
            })?;
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            trigger.cancel();
        });
        match app {
            Some(app) => app.serve(listener, shutdown).await?,
            None => {
                crate::standby::serve::serve(loaded, AppOptions::default, listener, shutdown)
                    .await?
            }
        }
        Ok(exit_code::OK)
    })
}

fn probe(loaded: &Loaded) -> anyhow::Result<i32> {
    let mut addr = loaded.config.http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/healthz");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ok = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .build()?;
        anyhow::Ok(
            client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
        )
    })?;
    if ok {
        println!("{url}: ok");
        Ok(exit_code::OK)
    } else {
        println!("{url}: not healthy");
        Ok(exit_code::CHECK_FAILED)
    }
}

fn open_store(loaded: &Loaded) -> anyhow::Result<Store> {
    Store::open(
        &loaded.config.storage.path,
        loaded.config.storage.busy_timeout,
    )
}

fn migrate(loaded: &Loaded) -> anyhow::Result<i32> {
    let store = Store::open_unmigrated(
        &loaded.config.storage.path,
        loaded.config.storage.busy_timeout,
    )?;
    let (before, after) = store.with_conn(|c| {
        let before = migrations::current_version(c)?;
        migrations::apply_all(c)?;
        Ok((before, migrations::current_version(c)?))
    })?;
    println!(
        "database {}: schema version {before} -> {after} (latest {})",
        loaded.config.storage.path.display(),
        migrations::latest_version()
    );
    Ok(exit_code::OK)
}

fn config_check(loaded: &Loaded) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "# configuration is valid (source: {})", loaded.source)?;
    for var in &loaded.env_overrides {
        writeln!(out, "# overridden from the environment: {var}")?;
    }
    writeln!(out, "{}", toml::to_string_pretty(&loaded.config)?)?;
    writeln!(out, "# secrets (from the environment)")?;
    for (var, set) in loaded.secrets.presence() {
        writeln!(
            out,
            "# {var} = {}",
            if set { "set [redacted]" } else { "not set" }
        )?;
    }
    writeln!(out, "# features")?;
    for f in features::report(&loaded.config, &loaded.secrets) {
        writeln!(
            out,
            "# {:<15} {:<3}  {}",
            f.name,
            if f.on { "on" } else { "off" },
            f.why
        )?;
    }
    Ok(exit_code::OK)
}

fn audit_command(command: AuditCommand, loaded: &Loaded) -> anyhow::Result<i32> {
    let store = open_store(loaded)?;
    match command {
        AuditCommand::Verify { heads } => store.with_conn(|c| match audit::verify(c, &heads)? {
            Verification::Intact {
                rows,
                head,
                heads_checked,
            } => {
                let head = head.map_or_else(|| "none".to_owned(), |h| h.to_string());
                println!(
                    "audit log intact: {rows} rows verified; head {head}; {heads_checked} posted or given head(s) found in the chain"
                );
                Ok(exit_code::OK)
            }
            Verification::Broken { seq, reason } => {
                println!("audit log broken at row {seq}: {reason}");
                Ok(exit_code::CHECK_FAILED)
            }
        }),
        AuditCommand::Tail { n } => store.with_conn(|c| {
            let mut out = std::io::stdout().lock();
            for r in audit::tail(c, n)? {
                writeln!(
                    out,
                    "{:>6}  {}  {:<22} {:<24} {:<14} {}",
                    r.seq, r.at, r.actor, r.event, r.subject, r.details
                )?;
            }
            Ok(exit_code::OK)
        }),
        AuditCommand::Export { format, output } => store.with_conn(|c| {
            let n = match &output {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    audit::export::export(c, format, f)?
                }
                None => audit::export::export(c, format, std::io::stdout().lock())?,
            };
            eprintln!("exported {n} audit rows");
            Ok(exit_code::OK)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_holds_the_core_and_every_features_subcommands() {
        let cmd = Cli::command_line();
        cmd.clone().debug_assert();
        let names: Vec<_> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        for name in [
            "serve", "config", "zombies", "watchman", "access", "health", "digest",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let matches = cmd
            .try_get_matches_from(["opsmate", "--config", "x.toml", "zombies", "--json"])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        let (name, args) = matches.subcommand().unwrap();
        assert_eq!(name, "zombies");
        let args: crate::features::hunter::cli::ZombiesArgs =
            crate::plugin::cli_args(args).unwrap();
        assert!(args.json);
    }

    #[test]
    fn a_core_command_parses_into_its_variant() {
        let matches = Cli::command_line()
            .try_get_matches_from(["opsmate", "audit", "tail", "-n", "5"])
            .unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Audit {
                command: AuditCommand::Tail { n: 5 }
            })
        ));
    }
}
