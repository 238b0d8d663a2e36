//! Who is calling: the bearer token, looked up by its hash, and its rate limit.

use super::{ApiError, ApiState};
use crate::web::tokens::{self, Scope, Token};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;

/// The caller of a request, authenticated and within its rate limit.
pub struct Caller(pub Token);

impl Caller {
    /// Refuses a token whose scope does not reach `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if needed == Scope::Decide && self.0.scope != Scope::Decide {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "token {:?} has scope read; deciding needs a token created with --scope decide",
                    self.0.name
                ),
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let unauthorized = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "send Authorization: Bearer <token> (create one with opsmate token create)",
            ));
        };
        let Some(secret) = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|s| s.trim().to_owned())
        else {
            return Err(unauthorized(
                "the Authorization header is not a Bearer token",
            ));
        };
        let token = state
            .ctx
            .store
            .call(move |c| tokens::authenticate(c, &secret))
            .await?
            .ok_or_else(|| unauthorized("this token is unknown or was revoked"))?;
        state.limiter.admit(token.id)?;
        Ok(Caller(token))
    }
}

/// Requests per token per minute, with bursts up to the minute's allowance.
pub struct Limiter {
    limiter: DefaultKeyedRateLimiter<i64>,
    clock: DefaultClock,
}

impl Limiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of token `id`; a 429 with the wait when it is over.
    fn admit(&self, id: i64) -> Result<(), ApiError> {
        self.limiter.check_key(&id).map_err(|not_until| {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "this token made too many requests; wait as Retry-After says",
            );
            e.retry_after = Some(not_until.wait_time_from(self.clock.now()));
            e
        })
    }
}
