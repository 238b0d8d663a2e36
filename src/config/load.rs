//! Finding, reading and checking the configuration.
//!
//! Order: `--config PATH`, else `OPSMATE_CONFIG`, else `./opsmate.toml` if present,
//! else built-in defaults. Then `OPSMATE_<SECTION>__<KEY>` variables override keys.

use super::{Config, Secrets};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A snapshot of the process environment, passed in so tests never mutate globals.
pub type Env = BTreeMap<String, String>;

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "OPSMATE_";
/// Variable naming the configuration file (not itself a key).
pub const ENV_CONFIG_FILE: &str = "OPSMATE_CONFIG";
/// File looked for in the working directory when nothing else names one.
pub const DEFAULT_FILE: &str = "opsmate.toml";

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// The result of loading: typed config, secrets, and what shaped them.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub secrets: Secrets,
    pub source: ConfigSource,
    /// Environment variables that overrode keys, by name.
    pub env_overrides: Vec<String>,
}

/// A configuration problem. The CLI exits with code 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration file: {reason}")]
    Unreadable { file: String, reason: String },
    #[error("{file}:{line}:{column}: key `{key}`: {message}")]
    InFile {
        file: String,
        key: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{var}: {message}")]
    InEnv { var: String, message: String },
    #[error("{origin}: key `{key}`: {message}")]
    Rule {
        /// The environment variable that set the key, else the file, else the
        /// built-in defaults.
        origin: String,
        key: String,
        message: String,
    },
}

impl ConfigError {
    /// The offending key, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::InFile { key, .. } | ConfigError::Rule { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Loads the configuration for `serve` and every other command.
pub fn load(cli_path: Option<&Path>, env: &Env) -> Result<Loaded, ConfigError> {
    let source = resolve_source(cli_path, env, Path::new(DEFAULT_FILE));
    let text = match &source {
        ConfigSource::File(path) => {
            std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                file: path.display().to_string(),
                reason: e.to_string(),
            })?
        }
        ConfigSource::Defaults => String::new(),
    };
    let origin = source.to_string();
    // Check the file on its own first, so errors point at its lines.
    parse_typed(&text, &origin)?;

    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| in_file(&text, &origin, e, ""))?;
    let env_overrides = apply_env_overrides(&mut table, env)?;
    let config = config_from_table(table, &env_overrides)?;
    config
        .validate()
        .map_err(|(key, message)| ConfigError::Rule {
            // A key an environment variable set is reported under that variable.
            origin: override_of(&key, &env_overrides)
                .map_or_else(|| origin.clone(), |(var, _)| var.clone()),
            key,
            message,
        })?;
    Ok(Loaded {
        config,
        secrets: Secrets::from_env(env),
        source,
        env_overrides: env_overrides.into_iter().map(|(var, _)| var).collect(),
    })
}

/// Parses configuration text alone, without environment overrides.
pub fn parse_typed(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| in_file(text, origin, e, ""))?;
    let config = serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        in_file(text, origin, e.into_inner(), &key)
    })?;
    for name in config.sections.names() {
        match super::section_spec(name) {
            Some(spec) => (spec.check_text)(text, origin)?,
            None => {
                let (line, column) = line_of_key(text, name);
                return Err(ConfigError::InFile {
                    file: origin.to_owned(),
                    key: name.to_owned(),
                    line,
                    column,
                    message: super::unknown_section(name),
                });
            }
        }
    }
    Ok(config)
}

/// Where a top-level key is first written: `[key]`, `[key.…]`, `[[key…` or
/// `key = …` / `key.… = …` at the start of a line. (1, 1) if not found.
fn line_of_key(text: &str, key: &str) -> (usize, usize) {
    let starts = |rest: &str| {
        rest.strip_prefix(key)
            .is_some_and(|after| after.trim_start().starts_with(['=', '.', ']']))
    };
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            starts(line.trim_start_matches('[').trim_start()) || starts(line)
        })
        .map_or((1, 1), |i| (i + 1, 1))
}

fn resolve_source(cli_path: Option<&Path>, env: &Env, default_file: &Path) -> ConfigSource {
    if let Some(p) = cli_path {
        return ConfigSource::File(p.to_path_buf());
    }
    if let Some(p) = env.get(ENV_CONFIG_FILE).filter(|p| !p.is_empty()) {
        return ConfigSource::File(PathBuf::from(p));
    }
    if default_file.is_file() {
        return ConfigSource::File(default_file.to_path_buf());
    }
    ConfigSource::Defaults
}

pub(crate) fn in_file(text: &str, origin: &str, err: toml::de::Error, key: &str) -> ConfigError {
    let (line, column) = err
        .span()
        .map(|span| line_and_column(text, span.start))
        .unwrap_or((1, 1));
    let message = err.message().replace("unknown field", "unknown key");
    let message = match secret_hint(key) {
        Some(hint) => format!("{message}; {hint}"),
        None => message,
    };
    ConfigError::InFile {
        file: origin.to_owned(),
        key: if key.is_empty() || key == "." {
            "(document)".into()
        } else {
            key.to_owned()
        },
        line,
        column,
        message,
    }
}

/// A secret put in the file is refused; say where it belongs instead.
fn secret_hint(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    ["token", "secret", "api_key", "password"]
        .iter()
        .any(|w| lower.contains(w))
        .then(|| {
            "secrets are read only from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, \
             SLACK_APP_TOKEN, TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET, GITHUB_TOKEN, LINEAR_API_KEY)"
                .to_owned()
        })
}

/// 1-based line and column of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Applies `OPSMATE_<SECTION>__<KEY>=value` variables. Returns `(variable, dotted key)` pairs.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: &Env,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut applied = Vec::new();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if var == ENV_CONFIG_FILE || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::InEnv {
                var: var.clone(),
                message: "empty key segment; use OPSMATE_<SECTION>__<KEY>".into(),
            });
        }
        set_path(table, &path, env_value(raw)).map_err(|message| ConfigError::InEnv {
            var: var.clone(),
            message,
        })?;
        applied.push((var.clone(), path.join(".")));
    }
    Ok(applied)
}

/// An environment value is read as a TOML value (`true`, `42`, `["a", "b"]`) when it
/// parses as one, else as a plain string (`127.0.0.1:3000`, `Europe/Berlin`).
fn env_value(raw: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct Holder {
        v: toml::Value,
    }
    match toml::from_str::<Holder>(&format!("v = {raw}")) {
        Ok(h) => h.v,
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is not a section", path[..=depth].join(".")))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn config_from_table(
    table: toml::Table,
    overrides: &[(String, String)],
) -> Result<Config, ConfigError> {
    serde_path_to_error::deserialize::<_, Config>(table).map_err(|e| {
        let key = e.path().to_string();
        let message = e.inner().message().replace("unknown field", "unknown key");
        match override_of(&key, overrides) {
            Some((var, k)) => ConfigError::InEnv {
                var: var.clone(),
                message: format!("key `{k}`: {message}"),
            },
            None => ConfigError::Rule {
                origin: "environment".into(),
                key,
                message,
            },
        }
    })
}

/// The override behind `key`: the one that set it, or set a value holding it
/// (`guard.steps` for `guard.steps[2]`), or set a key inside it. Whole segments only:
/// `guard.step` is not `guard.steps`.
fn override_of<'a>(key: &str, overrides: &'a [(String, String)]) -> Option<&'a (String, String)> {
    let within = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    overrides
        .iter()
        .find(|(_, k)| within(key, k) || within(k, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name_and_line() {
        let f = file("timezone = \"UTC\"\n\n[storage]\npth = \"x.db\"\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.key(), Some("storage.pth"), "{text}");
        assert!(text.contains(":4:"), "line 4 expected in: {text}");
        assert!(text.contains("unknown key `pth`"), "{text}");
        assert!(text.contains(&f.path().display().to_string()), "{text}");
    }

    #[test]
    fn mistyped_value_names_key_and_line() {
        let f = file("dry_run = \"yes\"\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err();
        assert_eq!(err.key(), Some("dry_run"));
        assert!(err.to_string().contains(":1:"), "{err}");
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        let f = file("timezone = \"Mars/Olympus\"\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err();
        assert_eq!(err.key(), Some("timezone"), "{err}");
    }

    #[test]
    fn secret_in_file_is_refused_with_a_hint() {
        let f = file("[slack]\nbot_token = \"xoxb-1\"\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err().to_string();
        assert!(err.contains("slack.bot_token"), "{err}");
        assert!(err.contains("SLACK_BOT_TOKEN"), "{err}");
    }

    #[test]
    fn no_file_anywhere_falls_back_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("opsmate.toml");
        let source = resolve_source(None, &Env::new(), &missing);
        assert_eq!(source, ConfigSource::Defaults);
        let loaded = load(None, &env(&[])).unwrap();
        assert_eq!(
            loaded.config.storage.path,
            PathBuf::from("./data/opsmate.db")
        );
        assert_eq!(loaded.config.http.listen.to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/opsmate.toml")), &Env::new()).unwrap_err();
        assert!(matches!(err, ConfigError::Unreadable { .. }));
    }

    #[test]
    fn config_file_is_found_through_the_environment() {
        let f = file("dry_run = true\n");
        let loaded = load(
            None,
            &env(&[(ENV_CONFIG_FILE, &f.path().display().to_string())]),
        )
        .unwrap();
        assert!(loaded.config.dry_run);
        assert_eq!(loaded.source, ConfigSource::File(f.path().to_path_buf()));
    }

    #[test]
    fn environment_overrides_file_keys_and_sets_secrets() {
        let f = file("[storage]\npath = \"from-file.db\"\n");
        let loaded = load(
            Some(f.path()),
            &env(&[
                ("OPSMATE_STORAGE__PATH", "/data/from-env.db"),
                ("OPSMATE_DRY_RUN", "true"),
                ("OPSMATE_AWS__REGIONS", "[\"eu-west-1\", \"us-east-2\"]"),
                ("OPSMATE_HTTP__LISTEN", "0.0.0.0:8080"),
                (
                    "OPSMATE_APPROVALS__DELETE_VOLUME__SLACK_USERS",
                    "[\"U111\"]",
                ),
                ("SLACK_BOT_TOKEN", "xoxb-env"),
            ]),
        )
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.storage.path, PathBuf::from("/data/from-env.db"));
        assert!(c.dry_run);
        assert_eq!(c.aws.regions, vec!["eu-west-1", "us-east-2"]);
        assert_eq!(c.http.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(
            c.approvals
                .policy(crate::domain::ActionKind::DELETE_VOLUME)
                .unwrap()
                .slack_users
                .len(),
            1
        );
        assert_eq!(loaded.secrets.slack_bot_token.unwrap().expose(), "xoxb-env");
        assert_eq!(loaded.env_overrides.len(), 5);
    }

    #[test]
    fn unknown_environment_key_names_the_variable() {
        let err = load(None, &env(&[("OPSMATE_STORAGE__PTH", "x")])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("OPSMATE_STORAGE__PTH"), "{text}");
        assert!(text.contains("pth"), "{text}");
    }

    #[test]
    fn invalid_url_is_rejected_by_rule() {
        let err = load(None, &env(&[("OPSMATE_SLACK__API_URL", "not a url")])).unwrap_err();
        assert_eq!(err.key(), Some("slack.api_url"), "{err}");
    }

    #[test]
    fn jobs_take_their_own_schedule_and_time_zone() {
        let f = file(
            "timezone = \"Europe/Berlin\"\n[scheduler.prune_job_runs]\nschedule = \"0 4 * * SUN\"\ntimezone = \"America/New_York\"\n",
        );
        let c = load(Some(f.path()), &Env::new()).unwrap().config;
        let prune = c
            .core_job_schedule(crate::events::JobKind::PRUNE_JOB_RUNS)
            .unwrap();
        assert_eq!(prune.expression(), "0 4 * * SUN");
        assert_eq!(prune.timezone(), chrono_tz::America::New_York);
        let expire = c
            .core_job_schedule(crate::events::JobKind::EXPIRE_APPROVALS)
            .unwrap();
        assert_eq!(expire.timezone(), chrono_tz::Europe::Berlin);
    }

    #[test]
    fn a_bad_cron_expression_names_its_key() {
        let err = load(
            None,
            &env(&[(
                "OPSMATE_SCHEDULER__EXPIRE_APPROVALS__SCHEDULE",
                "every minute",
            )]),
        )
        .unwrap_err();
        assert_eq!(
            err.key(),
            Some("scheduler.expire_approvals.schedule"),
            "{err}"
        );
    }

    #[test]
    fn an_out_of_range_environment_value_names_its_variable() {
        let err = load(None, &env(&[("OPSMATE_GUARD__GRACE_PERIOD_DAYS", "0")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("OPSMATE_GUARD__GRACE_PERIOD_DAYS: key `guard.grace_period_days`"),
            "{text}"
        );
        assert!(text.contains("between 1 and 365"), "{text}");
        assert!(!text.contains("built-in defaults"), "{text}");
        assert_eq!(err.key(), Some("guard.grace_period_days"));
    }

    #[test]
    fn an_out_of_range_file_value_still_names_the_file() {
        let f = file("[guard]\ngrace_period_days = 400\n");
        let err = load(Some(f.path()), &env(&[("OPSMATE_GUARD__KEEP_DAYS", "30")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "{}: key `guard.grace_period_days`",
                f.path().display()
            )),
            "{text}"
        );
        assert!(!text.contains("OPSMATE_"), "{text}");
    }

    #[test]
    fn an_override_covers_keys_inside_it_by_whole_segments() {
        let set = |k: &str| vec![("OPSMATE_X".to_owned(), k.to_owned())];
        assert!(override_of("guard.steps[2]", &set("guard.steps")).is_some());
        assert!(override_of("guard.domain_aliases.corp.io", &set("guard")).is_some());
        assert!(override_of("guard", &set("guard.grace_period_days")).is_some());
        assert!(override_of("guard.steps", &set("guard.step")).is_none());
        assert!(override_of("guard.step", &set("guard.steps")).is_none());
    }

    #[test]
    fn a_typo_in_a_feature_section_names_its_key_and_line() {
        let f =
            file("dry_run = true\n\n[hunter]\nschedule = \"0 9 * * *\"\nsnapshot_age_dayz = 3\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.key(), Some("hunter.snapshot_age_dayz"), "{text}");
        assert!(text.contains(":5:"), "line 5 expected in: {text}");
        assert!(text.contains("unknown key `snapshot_age_dayz`"), "{text}");
    }

    #[test]
    fn a_section_no_feature_owns_is_refused_with_its_line() {
        let f = file("dry_run = true\n\n[huntr]\nschedule = \"0 9 * * *\"\n");
        let err = load(Some(f.path()), &Env::new()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.key(), Some("huntr"), "{text}");
        assert!(text.contains(":3:"), "line 3 expected in: {text}");
        assert!(
            text.contains(
                "hunter, watchman, guard, incidents, rollback, sentinel, billing, observatory"
            ),
            "{text}"
        );

        let err = load(None, &env(&[("OPSMATE_HUNTR__SCHEDULE", "x")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OPSMATE_HUNTR__SCHEDULE: key `huntr`"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_feature_schedule_from_the_environment_names_its_variable() {
        let f = file("[hunter]\n");
        let err = load(
            Some(f.path()),
            &env(&[("OPSMATE_HUNTER__SCHEDULE", "sometimes")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OPSMATE_HUNTER__SCHEDULE: key `hunter.schedule`"),
            "{err}"
        );
    }

    #[test]
    fn approvals_take_the_features_kinds_and_refuse_others() {
        let f = file("[approvals.stop_instances]\nslack_users = [\"UALICE\"]\n");
        let c = load(Some(f.path()), &Env::new()).unwrap().config;
        let policy = c
            .approvals
            .policy(crate::domain::ActionKind::STOP_INSTANCES);
        assert_eq!(policy.unwrap().slack_users.len(), 1);

        let f = file("[approvals.stop_instance]\nslack_users = [\"UALICE\"]\n");
        let text = load(Some(f.path()), &Env::new()).unwrap_err().to_string();
        assert!(text.contains("unknown key `stop_instance`"), "{text}");
        assert!(text.contains("stop_instances"), "{text}");

        // A set has no policy of its own.
        let f = file("[approvals.delete_zombies]\nslack_users = [\"UALICE\"]\n");
        assert!(load(Some(f.path()), &Env::new()).is_err());

        let f = file("[approvals.delete_volume]\nslack_user = [\"UALICE\"]\n");
        let text = load(Some(f.path()), &Env::new()).unwrap_err().to_string();
        assert!(
            text.contains("[approvals.delete_volume] key `slack_user`: unknown key"),
            "{text}"
        );
    }

    #[test]
    fn the_checked_configuration_prints_back_and_loads_again() {
        let f = file(
            "[hunter]\nschedule = \"0 7 * * *\"\n[approvals.delete_volume]\nslack_users = [\"UALICE\"]\n",
        );
        let c = load(Some(f.path()), &Env::new()).unwrap().config;
        let printed = toml::to_string_pretty(&c).unwrap();
        let again = parse_typed(&printed, "printed").unwrap();
        assert_eq!(again, c, "{printed}");
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("opsmate.example.toml");
        let loaded = load(Some(&path), &Env::new()).unwrap();
        assert_eq!(
            loaded
                .config
                .approvals
                .policy(crate::domain::ActionKind::REVOKE_ACCESS)
                .unwrap()
                .required(),
            2
        );
    }

    #[test]
    fn line_and_column_are_one_based() {
        assert_eq!(line_and_column("a\nbc\n", 0), (1, 1));
        assert_eq!(line_and_column("a\nbc\n", 3), (2, 2));
    }
}
