//! The text of an API key: `ppk_`, the key's id, tenant and principal (not
//! secrets: they tell the server which tenant context to read the key in),
//! then `_` and the 256-bit secret, all lower-case hex. The visible prefix
//! (`ppk_` and the last 12 hex digits of the key id, which are random) names
//! a key in lists without revealing it.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::{ApiKeyId, TenantId, UserId};

const PREFIX: &str = "ppk_";
const SECRET_BYTES: usize = 32;

/// Equal secrets or digests, in time that does not depend on where they
/// differ: the one comparison every check of a presented secret uses.
pub fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An API key as a caller presents it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyText {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub user: UserId,
    pub secret: [u8; SECRET_BYTES],
}

/// The text is not an API key of this form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an API key looks like ppk_<96 hex digits>_<64 hex digits>")]
pub struct ApiKeyParseError;

impl ApiKeyText {
    /// What lists show: enough to tell keys apart, nothing that opens one.
    pub fn visible_prefix(id: ApiKeyId) -> String {
        // The id's last 12 digits are random (UUIDv7's rand_b), unlike its
        // leading timestamp, which keys made together share.
        let hex = id.as_uuid().simple().to_string();
        format!("{PREFIX}{}", &hex[20..])
    }
}

impl fmt::Display for ApiKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}{}{}_",
            self.id.as_uuid().simple(),
            self.tenant.as_uuid().simple(),
            self.user.as_uuid().simple()
        )?;
        self.secret.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Never prints the secret, so a key cannot leak through a log line.
impl fmt::Debug for ApiKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyText({})", ApiKeyText::visible_prefix(self.id))
    }
}

impl FromStr for ApiKeyText {
    type Err = ApiKeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix(PREFIX).ok_or(ApiKeyParseError)?;
        let (ids, secret) = rest.split_once('_').ok_or(ApiKeyParseError)?;
        if ids.len() != 96 || secret.len() != 2 * SECRET_BYTES {
            return Err(ApiKeyParseError);
        }
        let id =
            |i: usize| Uuid::try_parse(&ids[32 * i..32 * (i + 1)]).map_err(|_| ApiKeyParseError);
        let mut bytes = [0u8; SECRET_BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            let pair = secret.get(2 * i..2 * i + 2).ok_or(ApiKeyParseError)?;
            *b = u8::from_str_radix(pair, 16).map_err(|_| ApiKeyParseError)?;
        }
        Ok(ApiKeyText {
            id: ApiKeyId::from_uuid(id(0)?),
            tenant: TenantId::from_uuid(id(1)?),
            user: UserId::from_uuid(id(2)?),
            secret: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKeyText {
        ApiKeyText {
            id: ApiKeyId::new(),
            tenant: TenantId::new(),
            user: UserId::new(),
            secret: [7; SECRET_BYTES],
        }
    }

    #[test]
    fn a_key_reads_back_as_itself() {
        let k = key();
        let text = k.to_string();
        assert!(text.starts_with(&ApiKeyText::visible_prefix(k.id)[..4]));
        assert_eq!(text.parse::<ApiKeyText>().unwrap(), k);
    }

    #[test]
    fn a_debug_print_hides_the_secret() {
        let k = key();
        assert!(!format!("{k:?}").contains("0707"));
    }

    #[test]
    fn anything_else_is_refused() {
        let good = key().to_string();
        for bad in [
            "",
            "ppk_",
            &good[1..],
            &good[..good.len() - 1],
            &good.replace('_', "-"),
            &format!("{}zz", &good[..good.len() - 2]),
            "Bearer ppk_x",
        ] {
            assert_eq!(bad.parse::<ApiKeyText>(), Err(ApiKeyParseError), "{bad}");
        }
    }
}
