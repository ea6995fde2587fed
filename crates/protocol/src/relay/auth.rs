//! The relay side of the handshake.

use rand_core::CryptoRngCore;

use super::{AuthState, ConnId, RelayAction, RelayCore, err, send};
use crate::bytes::ByteArray;
use crate::domain;
use crate::wire::{ErrorCode, Message, RetryClass, auth_message};

impl RelayCore {
    pub(super) fn handle_auth(
        &mut self,
        now: u64,
        conn: ConnId,
        msg: Message,
        rng: &mut impl CryptoRngCore,
    ) -> Vec<RelayAction> {
        let relay = self.key.device_id();
        let origin = self.config.origin.clone();
        let window = self.config.auth_window_ms;
        let allowed = |d| {
            self.config
                .allow_list
                .as_ref()
                .is_none_or(|l| l.contains(d))
        };
        let fail = |text: &str| {
            vec![
                err(
                    conn,
                    ErrorCode::AuthFailed,
                    RetryClass::Unauthorised,
                    None,
                    text,
                ),
                RelayAction::Close { conn },
            ]
        };
        match msg {
            Message::Hello { device, .. } => {
                if !allowed(&device) {
                    return vec![
                        err(
                            conn,
                            ErrorCode::NotAllowed,
                            RetryClass::Unauthorised,
                            None,
                            "device not on the allow-list",
                        ),
                        RelayAction::Close { conn },
                    ];
                }
                let mut nonce = [0u8; 32];
                rng.fill_bytes(&mut nonce);
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.auth = AuthState::Challenged { nonce, device };
                }
                vec![send(
                    conn,
                    Message::Challenge {
                        nonce: ByteArray(nonce),
                        origin,
                        relay,
                    },
                )]
            }
            Message::Authenticate {
                device,
                timestamp,
                signature,
            } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return Vec::new();
                };
                let AuthState::Challenged {
                    nonce,
                    device: claimed,
                } = c.auth
                else {
                    return fail("no challenge outstanding");
                };
                if claimed != device {
                    return fail("device differs from hello");
                }
                if timestamp.abs_diff(now) > window {
                    return fail("clock outside the allowed window");
                }
                let m = auth_message(&nonce, &origin, timestamp, &relay, &device);
                if !signature.verify(&device, domain::AUTH_SIG, &m) {
                    return fail("bad signature");
                }
                c.auth = AuthState::Authenticated(device);
                vec![send(conn, Message::Welcome { server_time: now })]
            }
            _ => fail("authenticate first"),
        }
    }
}
