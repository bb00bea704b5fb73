//! The settings sections of a config (`jwks`, `token`, `server`), each compiled with its
//! bounds checked.

use std::time::Duration;

use serde_saphyr::Spanned;

use super::settings::{ConnectionSettings, JwksSettings};
use super::{Compiler, RawJwks, RawServer, RawToken, TokenSettings};
use crate::diag::Span;

impl Compiler<'_> {
    /// The `jwks` section's timing. Bounded: a zero cooldown would lift the rate limit
    /// Keycloak relies on, a zero timeout fail every fetch, and an enormous value overflow the
    /// clock.
    pub(super) fn jwks_settings(&mut self, rj: Option<&RawJwks>) -> JwksSettings {
        let defaults = JwksSettings::default();
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        JwksSettings {
            refresh_interval: self.duration_in(
                rj.and_then(|j| j.refresh_interval.as_ref()),
                "jwks.refresh_interval",
                defaults.refresh_interval,
                secs(1)..=secs(24 * 3600),
            ),
            refetch_cooldown: self.duration_in(
                rj.and_then(|j| j.refetch_cooldown.as_ref()),
                "jwks.refetch_cooldown",
                defaults.refetch_cooldown,
                ms(100)..=secs(3600),
            ),
            fetch_timeout: self.duration_in(
                rj.and_then(|j| j.fetch_timeout.as_ref()),
                "jwks.fetch_timeout",
                defaults.fetch_timeout,
                ms(10)..=secs(60),
            ),
            keys_max_age: self.duration_in(
                rj.and_then(|j| j.keys_max_age.as_ref()),
                "jwks.keys_max_age",
                defaults.keys_max_age,
                secs(1)..=secs(30 * 24 * 3600),
            ),
        }
    }

    /// The `token` section (`token.cache_capacity`, replaced by `cache_max_bytes`, is refused
    /// with a hint).
    pub(super) fn token_settings(&mut self, rt: Option<&RawToken>) -> TokenSettings {
        let td = TokenSettings::default();
        let token = TokenSettings {
            leeway: self.duration_in(
                rt.and_then(|t| t.leeway.as_ref()),
                "token.leeway",
                td.leeway,
                Duration::ZERO..=Duration::from_secs(3600),
            ),
            max_bytes: rt
                .and_then(|t| t.max_bytes.as_ref())
                .map_or(td.max_bytes, |v| v.value),
            cache_max_bytes: match rt.and_then(|t| t.cache_max_bytes.as_ref()) {
                None => td.cache_max_bytes,
                Some(v) if (64 << 10..=64 << 30).contains(&v.value) => v.value,
                Some(v) => {
                    self.diags
                        .error(
                            Span::of(self.file, v),
                            "token.cache_max_bytes",
                            format!(
                                "{} is outside 65536 (64 KiB) to 68719476736 (64 GiB)",
                                v.value
                            ),
                        )
                        .hint("the default, 67108864 (64 MiB), holds ~250,000 ordinary tokens");
                    td.cache_max_bytes
                }
            },
            cache_max_ttl: self.duration_in(
                rt.and_then(|t| t.cache_max_ttl.as_ref()),
                "token.cache_max_ttl",
                td.cache_max_ttl,
                Duration::ZERO..=Duration::from_secs(24 * 3600),
            ),
        };

        if let Some(v) = rt.and_then(|t| t.cache_capacity.as_ref()) {
            self.diags
                .error(
                    Span::of(self.file, v),
                    "token.cache_capacity",
                    "the token cache is bounded by bytes now, not entries",
                )
                .hint("use token.cache_max_bytes (default 67108864, 64 MiB)");
        }
        token
    }

    /// The `server` section: the Check port's connections.
    pub(super) fn server_settings(&mut self, rs: Option<&RawServer>) -> ConnectionSettings {
        let sd = ConnectionSettings::default();
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        ConnectionSettings {
            max_connections: match rs.and_then(|s| s.max_connections.as_ref()) {
                None => sd.max_connections,
                Some(v) if v.value >= 1 => v.value,
                Some(v) => {
                    self.diags.error(
                        Span::of(self.file, v),
                        "server.max_connections",
                        "at least one connection must be allowed",
                    );
                    sd.max_connections
                }
            },
            header_timeout: self.duration_in(
                rs.and_then(|s| s.header_timeout.as_ref()),
                "server.header_timeout",
                sd.header_timeout,
                ms(100)..=secs(3600),
            ),
            idle_timeout: self.duration_in(
                rs.and_then(|s| s.idle_timeout.as_ref()),
                "server.idle_timeout",
                sd.idle_timeout,
                secs(1)..=secs(7 * 24 * 3600),
            ),
            keepalive_interval: self.duration_in(
                rs.and_then(|s| s.keepalive_interval.as_ref()),
                "server.keepalive_interval",
                sd.keepalive_interval,
                secs(1)..=secs(24 * 3600),
            ),
            keepalive_timeout: self.duration_in(
                rs.and_then(|s| s.keepalive_timeout.as_ref()),
                "server.keepalive_timeout",
                sd.keepalive_timeout,
                secs(1)..=secs(3600),
            ),
        }
    }

    /// A realm's `rest_base_path`: `/v2` by default; a plain path (no `%`, `;`, dot or empty
    /// segment), which the REST door compares as written.
    pub(super) fn rest_base_path(
        &mut self,
        raw: Option<&Spanned<String>>,
        key: String,
    ) -> Box<str> {
        match raw {
            None => crate::rest::DEFAULT_BASE_PATH.into(),
            Some(b) if crate::rest::is_valid_base_path(&b.value) => b.value.as_str().into(),
            Some(b) => {
                self.diags
                    .error(
                        Span::of(self.file, b),
                        key,
                        format!("rest_base_path '{}' is not a plain path", b.value),
                    )
                    .hint("a leading slash, no trailing one, no '%', ';', '..' or '//': '/v2', or the gateway's context path and '/v2' ('/orchestration/v2')");
                crate::rest::DEFAULT_BASE_PATH.into()
            }
        }
    }
}
