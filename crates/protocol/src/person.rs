//! A person's devices: the device link that adds one, and the recovery code
//! that restores the person on a fresh device.
//!
//! Both are *device invites* (see [`crate::membership`]): a secret whose
//! invite key the person's devices register, as a `CreateInvite` with a
//! device grant, in every journal the person is in. Neither names a
//! document: the new device asks the relay where the invite is live
//! (`InviteFind`, proven with the invite key) and redeems it in each.
//!
//! A device link is one-time and short-lived:
//!
//! ```text
//! starling://device/<relay>/<person: 64 hex>#<secret: 64 hex>
//! ```
//!
//! A recovery code is 128 random bits, written as 26 Crockford base-32
//! characters and a Luhn mod 32 check character, in groups of four:
//!
//! ```text
//! 7K2M-9QXD-4H0V-RT8C-N5WJ-B3FA-6ZP
//! ```
//!
//! Its invite secret is `HKDF-SHA256(ikm = the 16 bytes, info = "starling
//! recovery v1")`. Its invite never expires; it is used once (a recovery
//! then registers a fresh code) or revoked when a new code replaces it.

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::addr::RelayAddr;
use crate::ids::DeviceId;
use crate::invite::{InviteSecret, hex32};

/// Scheme and path prefix of a device link.
pub const DEVICE_LINK_PREFIX: &str = "starling://device/";
/// Longest accepted device link.
pub const MAX_DEVICE_LINK_LEN: usize = 512;
/// HKDF info turning a recovery code into its invite secret.
const RECOVERY_INFO: &[u8] = b"starling recovery v1";
/// The expiry of a recovery invite: never.
pub const RECOVERY_EXPIRES: u64 = u64::MAX;

/// Errors parsing a device link or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersonError {
    /// Longer than allowed.
    #[error("too long")]
    TooLong,
    /// Not a device link.
    #[error("not a starling device link (expected it to start with {DEVICE_LINK_PREFIX})")]
    Scheme,
    /// The relay address is invalid.
    #[error("the relay address in the device link is damaged: {0}")]
    Relay(crate::addr::AddrError),
    /// The person id is not 64 hex characters of a public key.
    #[error("the person part of the device link is damaged")]
    Person,
    /// The secret is missing or not 64 hex characters.
    #[error("device link is missing its secret after '#', or it is damaged")]
    Secret,
    /// A recovery code of the wrong length.
    #[error("a recovery code has 27 letters and digits (groups of four); this has {0}")]
    CodeLength(usize),
    /// A character outside the code's alphabet.
    #[error("'{0}' is not used in recovery codes (they use 0-9 and A-Z without I, L, O, U)")]
    CodeChar(char),
    /// The check character does not match: a typo.
    #[error("the recovery code does not check out: a character is mistyped")]
    CodeCheck,
}

/// A parsed device link.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceLink {
    /// The relay the person's journals sync through.
    pub relay: RelayAddr,
    /// The person the new device joins.
    pub person: DeviceId,
    /// The device invite's secret.
    pub secret: InviteSecret,
}

impl fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceLink")
            .field("relay", &self.relay)
            .field("person", &self.person)
            .finish_non_exhaustive()
    }
}

impl DeviceLink {
    /// The link text. It holds a secret: hand it over privately.
    pub fn to_link(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{DEVICE_LINK_PREFIX}{}/{}#{}",
            self.relay,
            self.person,
            hex::encode(self.secret.as_bytes())
        ))
    }
}

impl FromStr for DeviceLink {
    type Err = PersonError;
    fn from_str(s: &str) -> Result<Self, PersonError> {
        let s = s.trim();
        if s.len() > MAX_DEVICE_LINK_LEN {
            return Err(PersonError::TooLong);
        }
        let rest = s
            .strip_prefix(DEVICE_LINK_PREFIX)
            .ok_or(PersonError::Scheme)?;
        let (path, secret) = rest.split_once('#').ok_or(PersonError::Secret)?;
        let (relay, person) = path.rsplit_once('/').ok_or(PersonError::Person)?;
        let relay = RelayAddr::parse(relay).map_err(PersonError::Relay)?;
        let person = hex32(person)
            .and_then(|b| DeviceId::from_bytes(b).ok())
            .ok_or(PersonError::Person)?;
        let secret = InviteSecret::from_bytes(hex32(secret).ok_or(PersonError::Secret)?);
        Ok(DeviceLink {
            relay,
            person,
            secret,
        })
    }
}

/// Crockford's base-32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of the code proper (128 bits in base 32).
const DATA_CHARS: usize = 26;

/// A recovery code: 128 secret bits. Zeroizes on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode([u8; 16]);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

fn value_of(c: char) -> Result<u8, PersonError> {
    // Crockford's decoding: case-insensitive, and the letters people
    // confuse with digits read as those digits.
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
        .ok_or(PersonError::CodeChar(c))
}

/// The Luhn mod 32 check value of `digits`: catches every single mistyped
/// character and most swaps of two neighbours.
fn luhn_check(digits: &[u8]) -> u8 {
    let mut factor = 2u32;
    let mut sum = 0u32;
    for &d in digits.iter().rev() {
        let addend = factor * u32::from(d);
        sum += addend / 32 + addend % 32;
        factor = if factor == 2 { 1 } else { 2 };
    }
    ((32 - sum % 32) % 32) as u8
}

impl RecoveryCode {
    /// Draws a fresh code.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// Wraps raw bytes (tests).
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self(b)
    }

    /// The device invite secret the code stands for.
    pub fn invite_secret(&self) -> InviteSecret {
        let hk = Hkdf::<Sha256>::new(None, &self.0);
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is within HKDF's output limit.
        let _ = hk.expand(RECOVERY_INFO, out.as_mut());
        InviteSecret::from_bytes(*out)
    }

    fn digits(&self) -> Zeroizing<Vec<u8>> {
        let mut n = u128::from_be_bytes(self.0);
        let mut out = Zeroizing::new(vec![0u8; DATA_CHARS]);
        for slot in out.iter_mut().rev() {
            *slot = (n % 32) as u8;
            n /= 32;
        }
        out
    }

    /// The code as people write it down: groups of four, check last.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut digits = self.digits();
        let check = luhn_check(&digits);
        digits.push(check);
        let mut out = Zeroizing::new(String::with_capacity(40));
        for (i, d) in digits.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push('-');
            }
            out.push(ALPHABET[usize::from(*d)] as char);
        }
        out
    }
}

impl FromStr for RecoveryCode {
    type Err = PersonError;
    /// Reads a code as typed: any case, with or without the dashes and
    /// spaces, `O` for `0` and `I` or `L` for `1`.
    fn from_str(s: &str) -> Result<Self, PersonError> {
        if s.len() > 200 {
            return Err(PersonError::TooLong);
        }
        let digits = Zeroizing::new(
            s.chars()
                .filter(|c| !matches!(c, '-' | ' ' | '\t' | '\r' | '\n'))
                .map(value_of)
                .collect::<Result<Vec<u8>, _>>()?,
        );
        if digits.len() != DATA_CHARS + 1 {
            return Err(PersonError::CodeLength(digits.len()));
        }
        let (data, check) = digits.split_at(DATA_CHARS);
        if luhn_check(data) != check[0] {
            return Err(PersonError::CodeCheck);
        }
        // 26 base-32 digits hold 130 bits; the top two must be zero.
        if data[0] >= 8 {
            return Err(PersonError::CodeCheck);
        }
        let n = data.iter().fold(0u128, |n, &d| (n << 5) | u128::from(d));
        Ok(Self(n.to_be_bytes()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    #[test]
    fn a_device_link_round_trips_and_hides_its_secret() {
        let link = DeviceLink {
            relay: "wss://relay.example.org:8443".parse().unwrap(),
            person: crate::DeviceKey::from_seed([4; 32]).device_id(),
            secret: InviteSecret::from_bytes([1; 32]),
        };
        let text = link.to_link();
        assert!(text.starts_with("starling://device/relay.example.org:8443/"));
        assert_eq!(text.parse::<DeviceLink>().unwrap(), link);
        assert!(!format!("{link:?}").contains("0101"));
        let cases = [
            (
                text.replace("starling://device/", "starling://invite/"),
                PersonError::Scheme,
            ),
            (
                text.split('#').next().unwrap().to_owned(),
                PersonError::Secret,
            ),
            (format!("{}0", *text), PersonError::Secret),
            (
                text.replace("relay.example.org:8443/", ""),
                PersonError::Person,
            ),
            ("x".repeat(600), PersonError::TooLong),
        ];
        for (bad, want) in cases {
            assert_eq!(bad.parse::<DeviceLink>().unwrap_err(), want, "{bad}");
        }
    }

    #[test]
    fn a_recovery_code_round_trips_as_typed_and_catches_typos() {
        let mut rng = SeededRng::new(5);
        for _ in 0..200 {
            let code = RecoveryCode::generate(&mut rng);
            let text = code.to_text();
            assert_eq!(text.len(), 27 + 6);
            assert_eq!(text.parse::<RecoveryCode>().unwrap(), code);
            let sloppy = text.to_lowercase().replace('-', " ").replace('0', "o");
            assert_eq!(sloppy.parse::<RecoveryCode>().unwrap(), code);
            // Every single mistyped character is caught.
            let plain: Vec<char> = text.chars().filter(|c| *c != '-').collect();
            for i in 0..plain.len() {
                for &a in ALPHABET {
                    let a = a as char;
                    if a == plain[i] {
                        continue;
                    }
                    let mut typo = plain.clone();
                    typo[i] = a;
                    let typo: String = typo.into_iter().collect();
                    assert!(typo.parse::<RecoveryCode>().is_err(), "{typo}");
                }
            }
        }
        assert_eq!(
            "ABC".parse::<RecoveryCode>().unwrap_err(),
            PersonError::CodeLength(3)
        );
        assert_eq!(
            "7K2M-9QXD-4H0V-RT8C-N5WJ-B3FA-6Z!"
                .parse::<RecoveryCode>()
                .unwrap_err(),
            PersonError::CodeChar('!')
        );
        // Two codes never share an invite.
        let a = RecoveryCode::from_bytes([1; 16]).invite_secret().id();
        let b = RecoveryCode::from_bytes([2; 16]).invite_secret().id();
        assert_ne!(a, b);
    }
}
