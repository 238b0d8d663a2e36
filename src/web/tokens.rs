//! REST API tokens: created once (printed, never stored), kept as a SHA-256 hash,
//! and revoked by name. Every change is audited.

use crate::audit;
use crate::domain::SlackUserId;
use crate::store::immediate;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Prefix of every token, so a leaked one is recognisable (and greppable) as ours.
pub const PREFIX: &str = "opsmate_";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read everything the API shows.
    Read,
    /// Read, and decide proposals as the token's owner (the gate's policy applies).
    Decide,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Decide => "decide",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "decide" => Some(Scope::Decide),
            _ => None,
        }
    }
}

/// A live token, as the API sees its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub owner: SlackUserId,
    pub created_at: String,
}

/// Why a token could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a live token is already named {0:?}; revoke it first or pick another name")]
    NameTaken(String),
    #[error("no live token is named {0:?}")]
    NoSuchToken(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Creates a token and returns it with its secret, which is shown this once.
pub fn create(
    conn: &mut Connection,
    name: &str,
    scope: Scope,
    owner: &SlackUserId,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(Token, String), TokenError> {
    let secret = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    immediate(conn, |tx| {
        if live_id(tx, name)?.is_some() {
            return Ok(Err(TokenError::NameTaken(name.to_owned())));
        }
        tx.execute(
            "INSERT INTO api_tokens (name, scope, owner, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, scope.as_str(), owner.as_str(), hash(&secret), at],
        )?;
        let id = tx.last_insert_rowid();
        audit::append(
            tx,
            now,
            actor,
            audit::events::TOKEN_CREATED,
            &format!("token:{name}"),
            &json!({"scope": scope, "owner": owner.as_str()}),
        )?;
        let token = Token {
            id,
            name: name.to_owned(),
            scope,
            owner: owner.clone(),
            created_at: at.clone(),
        };
        Ok(Ok((token, secret.clone())))
    })?
}

/// Ends the live token named `name`; requests with it are refused from now on.
pub fn revoke(
    conn: &mut Connection,
    name: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), TokenError> {
    immediate(conn, |tx| {
        let Some(id) = live_id(tx, name)? else {
            return Ok(Err(TokenError::NoSuchToken(name.to_owned())));
        };
        tx.execute(
            "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2",
            params![now.to_rfc3339_opts(SecondsFormat::Millis, true), id],
        )?;
        audit::append(
            tx,
            now,
            actor,
            audit::events::TOKEN_REVOKED,
            &format!("token:{name}"),
            &json!({}),
        )?;
        Ok(Ok(()))
    })?
}

/// The live tokens, oldest first.
pub fn list(conn: &Connection) -> anyhow::Result<Vec<Token>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, scope, owner, created_at FROM api_tokens WHERE revoked_at IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], row_to_token)?;
    let mut out = Vec::new();
    for row in rows {
        if let Some(t) = row? {
            out.push(t);
        }
    }
    Ok(out)
}

/// The live token whose secret is `secret`, if any. Only hashes are compared, and
/// the lookup is by the hash's index, so the time taken says nothing of the secret.
pub fn authenticate(conn: &Connection, secret: &str) -> anyhow::Result<Option<Token>> {
    if !secret.starts_with(PREFIX) {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT id, name, scope, owner, created_at FROM api_tokens WHERE hash = ?1 AND revoked_at IS NULL",
            params![hash(secret)],
            row_to_token,
        )
        .optional()?
        .flatten())
}

fn live_id(conn: &Connection, name: &str) -> anyhow::Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM api_tokens WHERE name = ?1 AND revoked_at IS NULL",
            params![name],
            |r| r.get(0),
        )
        .optional()?)
}

/// A row as a token; `None` when a hand-edited row holds a scope or owner that does
/// not parse (such a token authenticates nobody).
fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Token>> {
    let scope: String = r.get(2)?;
    let owner: String = r.get(3)?;
    let (Some(scope), Ok(owner)) = (Scope::parse(&scope), SlackUserId::parse(&owner)) else {
        return Ok(None);
    };
    Ok(Some(Token {
        id: r.get(0)?,
        name: r.get(1)?,
        scope,
        owner,
        created_at: r.get(4)?,
    }))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
