//! Request rate limits: a token bucket per API key and one per tenant, in
//! this process's memory, so that one key or one tenant flooding the API
//! takes neither the others' requests nor their connections.
//!
//! A request is charged before its transaction opens, so a refused request
//! costs no database round trip. The limiter knows a key once a request of
//! it has verified in the database (the digest of its secret, its tenant,
//! its own rate); later requests are matched by digest in memory, in
//! constant time. A key it does not know (its first request here, a forged
//! or a revoked key) goes on to the database, which verifies it, and only a
//! key that verifies is remembered and charged. So a forged key naming a
//! tenant's id (ids are no secret) never drains that tenant's bucket.
//!
//! Answers carry `RateLimit-Policy` and `RateLimit` (the IETF httpapi
//! rate-limit fields): one item per bucket, `"key"` and `"tenant"`, with
//! the bucket's size `q` over `w`, the seconds it takes to fill, then the
//! tokens left `r` and the seconds `t` until it is full again. A refusal is
//! 429 with `Retry-After`: the seconds until both buckets hold a token.
//!
//! Limits are per process: N servers behind a balancer allow N times them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{HeaderValue, RETRY_AFTER};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pplane_domain::api_key::{digests_equal, ApiKeyText};
use pplane_domain::{ApiKeyId, TenantId};
use pplane_store::operations::api_keys::ApiKey;
use sha2::{Digest, Sha256};

use crate::problem::{Kind, Problem};
use crate::session::bearer_key;

/// A bucket's refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_s: f64,
    pub burst: u32,
}

impl Rate {
    /// Seconds an empty bucket takes to fill.
    fn window_s(&self) -> u64 {
        (f64::from(self.burst) / self.per_s).ceil().max(1.0) as u64
    }
}

/// The limits a server applies: every key's unless the key has its own,
/// and every tenant's (all its keys together).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub key: Rate,
    pub tenant: Rate,
}

impl Default for Limits {
    /// A key: 100 requests a second, 200 at once; a tenant: twice that.
    fn default() -> Limits {
        Limits {
            key: Rate {
                per_s: 100.0,
                burst: 200,
            },
            tenant: Rate {
                per_s: 200.0,
                burst: 400,
            },
        }
    }
}

impl Limits {
    /// So high that nothing is refused: for measuring the API itself.
    pub fn unlimited() -> Limits {
        let rate = Rate {
            per_s: 1e12,
            burst: u32::MAX,
        };
        Limits {
            key: rate,
            tenant: rate,
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    rate: Rate,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: f64::from(rate.burst),
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_s).min(f64::from(self.rate.burst));
        self.at = now;
    }

    /// How long until it holds one token.
    fn wait(&self) -> Duration {
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate.per_s).max(0.0))
    }

    fn state(&self, name: &'static str) -> BucketState {
        let missing = f64::from(self.rate.burst) - self.tokens;
        BucketState {
            name,
            rate: self.rate,
            remaining: self.tokens.floor().max(0.0) as u64,
            full_in_s: (missing / self.rate.per_s).ceil().max(0.0) as u64,
        }
    }
}

/// A bucket as the answer's fields describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    name: &'static str,
    rate: Rate,
    remaining: u64,
    full_in_s: u64,
}

/// What the limiter said of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The key is not known here yet: let the database verify it.
    Unknown,
    /// Charged: the buckets as they are now.
    Admitted([BucketState; 2]),
    /// Over a limit, nothing charged: the buckets, and when to come back.
    Refused([BucketState; 2], Duration),
}

struct KnownKey {
    digest: [u8; 32],
    tenant: TenantId,
    bucket: Bucket,
}

#[derive(Default)]
struct Buckets {
    keys: HashMap<ApiKeyId, KnownKey>,
    tenants: HashMap<TenantId, Bucket>,
}

/// The process's buckets. Cheap to consult: one short lock, no I/O.
pub struct Limiter {
    limits: Limits,
    buckets: Mutex<Buckets>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            buckets: Mutex::default(),
        }
    }

    /// Charges a request of `presented` to its key's and its tenant's
    /// buckets, both or neither.
    pub fn admit(&self, presented: &ApiKeyText) -> Admission {
        self.admit_at(presented, Instant::now())
    }

    fn admit_at(&self, presented: &ApiKeyText, now: Instant) -> Admission {
        let digest = digest(presented);
        let mut buckets = self.lock();
        let Buckets { keys, tenants } = &mut *buckets;
        let Some(known) = keys.get_mut(&presented.id) else {
            return Admission::Unknown;
        };
        if !digests_equal(&known.digest, &digest) || known.tenant != presented.tenant {
            return Admission::Unknown;
        }
        let tenant = tenants
            .entry(known.tenant)
            .or_insert_with(|| Bucket::full(self.limits.tenant, now));
        known.bucket.refill(now);
        tenant.refill(now);
        if known.bucket.tokens >= 1.0 && tenant.tokens >= 1.0 {
            known.bucket.tokens -= 1.0;
            tenant.tokens -= 1.0;
            Admission::Admitted([known.bucket.state("key"), tenant.state("tenant")])
        } else {
            let wait = known.bucket.wait().max(tenant.wait());
            Admission::Refused([known.bucket.state("key"), tenant.state("tenant")], wait)
        }
    }

    /// Remembers a key the database has just verified, with its own rate
    /// if it has one; a key known already takes a changed rate.
    pub fn learn(&self, key: &ApiKey, presented: &ApiKeyText) {
        let rate = key_rate(key, self.limits.key);
        let now = Instant::now();
        let mut buckets = self.lock();
        let known = buckets.keys.entry(key.id).or_insert_with(|| KnownKey {
            digest: digest(presented),
            tenant: presented.tenant,
            bucket: Bucket::full(rate, now),
        });
        if known.bucket.rate != rate {
            known.bucket.refill(now);
            known.bucket.rate = rate;
            known.bucket.tokens = known.bucket.tokens.min(f64::from(rate.burst));
        }
    }

    /// Forgets a key the database refused (revoked, expired), if the
    /// refused request presented its secret: a forgery naming the key's id
    /// must not reset its bucket.
    pub fn forget(&self, presented: &ApiKeyText) {
        let digest = digest(presented);
        let mut buckets = self.lock();
        if buckets
            .keys
            .get(&presented.id)
            .is_some_and(|k| digests_equal(&k.digest, &digest))
        {
            buckets.keys.remove(&presented.id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the limiter keeps of a key's secret: its SHA-256, as the store does.
fn digest(presented: &ApiKeyText) -> [u8; 32] {
    Sha256::digest(presented.secret).into()
}

/// A key's own rate, or the server's default for keys.
fn key_rate(key: &ApiKey, default: Rate) -> Rate {
    match (key.rate_per_s, key.burst) {
        (None, None) => default,
        (per_s, burst) => Rate {
            per_s: per_s.map_or(default.per_s, f64::from),
            burst: burst.map_or(default.burst, |b| u32::try_from(b).unwrap_or(default.burst)),
        },
    }
}

/// The layer on `/v1`: refuses a request over its key's or its tenant's
/// limit before anything else runs, and tells every answer where the
/// caller stands.
pub async fn enforce(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(key) = bearer_key(request.headers()) else {
        // No key of the right form: the session answers 401.
        return next.run(request).await;
    };
    match limiter.admit(&key) {
        Admission::Refused(buckets, wait) => too_many(&buckets, wait),
        Admission::Admitted(buckets) => {
            let mut response = next.run(request).await;
            describe(response.headers_mut(), &buckets);
            response
        }
        Admission::Unknown => {
            // The session verifies the key and, if it is good, has the
            // limiter learn it: this request is then charged after the
            // fact (a key's first request here is never refused).
            let mut response = next.run(request).await;
            if let Admission::Admitted(buckets) | Admission::Refused(buckets, _) =
                limiter.admit(&key)
            {
                describe(response.headers_mut(), &buckets);
            }
            response
        }
    }
}

fn too_many(buckets: &[BucketState; 2], wait: Duration) -> Response {
    let over: Vec<&str> = buckets
        .iter()
        .filter(|b| b.remaining == 0)
        .map(|b| b.name)
        .collect();
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let detail = format!(
        "too many requests for this {}: try again in {seconds} s",
        over.join(" and ")
    );
    let mut response = Problem::new(Kind::TooManyRequests, detail).into_response();
    describe(response.headers_mut(), buckets);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `RateLimit-Policy` and `RateLimit`, one item per bucket.
fn describe(headers: &mut HeaderMap, buckets: &[BucketState; 2]) {
    let policy: Vec<String> = buckets
        .iter()
        .map(|b| format!("\"{}\";q={};w={}", b.name, b.rate.burst, b.rate.window_s()))
        .collect();
    let state: Vec<String> = buckets
        .iter()
        .map(|b| format!("\"{}\";r={};t={}", b.name, b.remaining, b.full_in_s))
        .collect();
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::from_str(&value.join(", ")) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pplane_domain::UserId;

    fn key() -> ApiKeyText {
        ApiKeyText {
            id: ApiKeyId::new(),
            tenant: TenantId::new(),
            user: UserId::new(),
            secret: [7; 32],
        }
    }

    fn limiter(key: Rate, tenant: Rate) -> Limiter {
        Limiter::new(Limits { key, tenant })
    }

    fn known(limiter: &Limiter, k: &ApiKeyText) {
        let now = Instant::now();
        limiter.lock().keys.insert(
            k.id,
            KnownKey {
                digest: digest(k),
                tenant: k.tenant,
                bucket: Bucket::full(limiter.limits.key, now),
            },
        );
    }

    const TEN: Rate = Rate {
        per_s: 10.0,
        burst: 3,
    };
    const WIDE: Rate = Rate {
        per_s: 1000.0,
        burst: 1000,
    };

    #[test]
    fn an_unknown_or_forged_key_is_left_to_the_database() {
        let l = limiter(TEN, WIDE);
        let k = key();
        assert_eq!(l.admit(&k), Admission::Unknown);
        known(&l, &k);
        let forged = ApiKeyText {
            secret: [8; 32],
            ..k.clone()
        };
        assert_eq!(l.admit(&forged), Admission::Unknown);
        let elsewhere = ApiKeyText {
            tenant: TenantId::new(),
            ..k.clone()
        };
        assert_eq!(l.admit(&elsewhere), Admission::Unknown);
    }

    #[test]
    fn a_burst_is_admitted_then_refused_until_tokens_come_back() {
        let l = limiter(TEN, WIDE);
        let k = key();
        known(&l, &k);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            match l.admit_at(&k, t0) {
                Admission::Admitted(b) => assert_eq!(b[0].remaining, left),
                other => panic!("{other:?}"),
            }
        }
        match l.admit_at(&k, t0) {
            Admission::Refused(b, wait) => {
                assert_eq!(b[0].remaining, 0);
                assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
            }
            other => panic!("{other:?}"),
        }
        // A tenth of a second later, one token is back.
        let later = t0 + Duration::from_millis(101);
        assert!(matches!(l.admit_at(&k, later), Admission::Admitted(_)));
        assert!(matches!(l.admit_at(&k, later), Admission::Refused(..)));
    }

    #[test]
    fn a_forgery_naming_a_keys_id_does_not_reset_its_bucket() {
        let l = limiter(TEN, WIDE);
        let k = key();
        known(&l, &k);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(matches!(l.admit_at(&k, t0), Admission::Admitted(_)));
        }
        l.forget(&ApiKeyText {
            secret: [8; 32],
            ..k.clone()
        });
        assert!(matches!(l.admit_at(&k, t0), Admission::Refused(..)));
        // Its own refusal (revoked) does forget it.
        l.forget(&k);
        assert_eq!(l.admit_at(&k, t0), Admission::Unknown);
    }

    #[test]
    fn a_tenants_keys_share_its_bucket_and_a_refusal_charges_neither() {
        let l = limiter(WIDE, TEN);
        let a = key();
        let b = ApiKeyText {
            id: ApiKeyId::new(),
            ..a.clone()
        };
        known(&l, &a);
        known(&l, &b);
        let t0 = Instant::now();
        for k in [&a, &b, &a] {
            assert!(matches!(l.admit_at(k, t0), Admission::Admitted(_)));
        }
        let Admission::Refused(buckets, _) = l.admit_at(&b, t0) else {
            panic!("the tenant's bucket is empty");
        };
        assert_eq!((buckets[0].remaining, buckets[1].remaining), (999, 0));
        // Another tenant's key is untouched.
        let other = key();
        known(&l, &other);
        assert!(matches!(l.admit_at(&other, t0), Admission::Admitted(_)));
    }

    #[test]
    fn the_fields_name_each_bucket_with_its_size_window_and_state() {
        let mut headers = HeaderMap::new();
        let now = Instant::now();
        let mut key = Bucket::full(TEN, now);
        key.tokens = 1.0;
        let tenant = Bucket::full(WIDE, now);
        describe(&mut headers, &[key.state("key"), tenant.state("tenant")]);
        assert_eq!(
            headers["ratelimit-policy"],
            "\"key\";q=3;w=1, \"tenant\";q=1000;w=1"
        );
        assert_eq!(
            headers["ratelimit"],
            "\"key\";r=1;t=1, \"tenant\";r=1000;t=0"
        );
    }
}
