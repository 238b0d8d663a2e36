//! Web console sessions: a random id in a signed, HttpOnly, SameSite=Lax cookie
//! (Secure over https), stored in SQLite by its SHA-256 with the Slack user it
//! belongs to and the CSRF token its POSTs must carry.

use crate::clock::{from_millis, to_millis};
use crate::domain::SlackUserId;
use chrono::{DateTime, Utc};
use cookie::{Cookie, CookieJar, Key, SameSite};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "opsmate_session";
/// The sign-in cookie's name (state and nonce while Slack is asked).
pub const SIGNIN_COOKIE: &str = "opsmate_signin";

/// A signed-in person.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub user: SlackUserId,
    pub name: Option<String>,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The cookie-signing key, made once and kept in the database so sessions outlive
/// a restart.
pub fn signing_key(c: &Connection) -> anyhow::Result<Key> {
    let stored: Option<Vec<u8>> = c
        .query_row("SELECT key FROM web_keys WHERE name = 'cookies'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(key) = stored
        && key.len() == 64
    {
        return Ok(Key::from(&key));
    }
    let mut key = [0u8; 64];
    rand::rng().fill_bytes(&mut key);
    c.execute(
        "INSERT INTO web_keys (name, key) VALUES ('cookies', ?1)
         ON CONFLICT (name) DO UPDATE SET key = excluded.key",
        [&key[..]],
    )?;
    Ok(Key::from(&key))
}

/// Starts a session for `user`; returns its id (for the cookie).
pub fn create(
    c: &Connection,
    user: &SlackUserId,
    name: Option<&str>,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> anyhow::Result<String> {
    let id = random_token();
    let expires = now + chrono::Duration::from_std(ttl)?;
    c.execute(
        "DELETE FROM web_sessions WHERE expires_at <= ?1",
        [to_millis(now)],
    )?;
    c.execute(
        "INSERT INTO web_sessions (id_hash, user_id, name, csrf, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            hash(&id),
            user.as_str(),
            name,
            random_token(),
            to_millis(now),
            to_millis(expires)
        ],
    )?;
    Ok(id)
}

/// The live session with this id, if any.
pub fn lookup(c: &Connection, id: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Session>> {
    let row = c
        .query_row(
            "SELECT user_id, name, csrf, expires_at FROM web_sessions
             WHERE id_hash = ?1 AND expires_at > ?2",
            params![hash(id), to_millis(now)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(user, name, csrf, expires)| {
        Some(Session {
            user: SlackUserId::parse(&user).ok()?,
            name,
            csrf,
            expires_at: from_millis(expires),
        })
    }))
}

/// Ends a session.
pub fn delete(c: &Connection, id: &str) -> anyhow::Result<()> {
    c.execute("DELETE FROM web_sessions WHERE id_hash = ?1", [hash(id)])?;
    Ok(())
}

/// Reads the signed cookie `name` from a request's `Cookie` headers. A cookie whose
/// signature does not verify is treated as absent.
pub fn read_signed(headers: &axum::http::HeaderMap, key: &Key, name: &str) -> Option<String> {
    let mut jar = CookieJar::new();
    for header in headers.get_all(axum::http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for cookie in Cookie::split_parse_encoded(text.to_owned()).flatten() {
            jar.add_original(cookie.into_owned());
        }
    }
    jar.signed(key).get(name).map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value for the signed cookie `name` = `value`, lasting `max_age`
/// (or removing it when `None`).
pub fn set_signed(
    key: &Key,
    name: &'static str,
    value: &str,
    max_age: Option<std::time::Duration>,
    secure: bool,
) -> String {
    let mut jar = CookieJar::new();
    let mut cookie = Cookie::build((name, value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    match max_age {
        Some(age) => cookie.set_max_age(cookie::time::Duration::seconds(age.as_secs() as i64)),
        None => cookie.make_removal(),
    }
    jar.signed_mut(key).add(cookie);
    jar.get(name)
        .map(|c| c.encoded().to_string())
        .unwrap_or_default()
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
