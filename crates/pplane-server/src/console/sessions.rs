//! Console sessions: an API key, verified once at sign-in, exchanged for a
//! random session token that travels in a cookie.
//!
//! The server keeps the token's SHA-256 only, with the key's id, tenant and
//! principal, never the key's secret; each request re-reads the key's row in
//! its own tenant transaction, so revoking or expiring the key ends the
//! session at its next request. Sessions live in the serving process: a
//! restart signs everyone out, and several processes behind one address need
//! sticky sessions (docs/console.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pplane_domain::{ApiKeyId, TenantId, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The cookie that carries the session token.
pub const COOKIE: &str = "pplane_console";
/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// ...and this long after sign-in, whatever happens.
pub const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Past this many live sessions the oldest goes first: a flood of sign-ins
/// cannot grow the process without bound.
const SESSIONS_MAX: usize = 10_000;

/// Whose session it is, and the token its forms must carry back.
#[derive(Debug, Clone)]
pub struct Opened {
    pub tenant: TenantId,
    pub user: UserId,
    pub key: ApiKeyId,
    /// Sent in every form of the session and compared on every POST, so a
    /// request another site makes the browser send (with the cookie) fails.
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Opened>>,
}

impl Sessions {
    /// A new session for the key; returns the token for the cookie.
    pub fn open(&self, tenant: TenantId, user: UserId, key: ApiKeyId) -> String {
        let token = random_token();
        let now = Instant::now();
        let opened = Opened {
            tenant,
            user,
            key,
            csrf: random_token(),
            started: now,
            seen: now,
        };
        let mut live = self.live.lock().expect("console sessions");
        live.retain(|_, s| s.alive(now));
        if live.len() >= SESSIONS_MAX {
            let oldest = live.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k);
            oldest.map(|k| live.remove(&k));
        }
        live.insert(digest(&token), opened);
        token
    }

    /// The live session the token names, its idle clock reset.
    pub fn find(&self, token: &str) -> Option<Opened> {
        let now = Instant::now();
        let mut live = self.live.lock().expect("console sessions");
        let key = digest(token);
        match live.get_mut(&key) {
            Some(s) if s.alive(now) => {
                s.seen = now;
                Some(s.clone())
            }
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, token: &str) {
        self.live
            .lock()
            .expect("console sessions")
            .remove(&digest(token));
    }
}

impl Opened {
    fn alive(&self, now: Instant) -> bool {
        now.duration_since(self.seen) < IDLE && now.duration_since(self.started) < LIFETIME
    }
}

/// 256 random bits from the operating system, as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal texts, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    pplane_domain::api_key::digests_equal(a.as_bytes(), b.as_bytes())
}
