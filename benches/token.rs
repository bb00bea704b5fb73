//! Token verification per algorithm: the cold path of a Check (`token::verify::verify`:
//! signature, standard claims, permissions distilled into grants), for each JWS algorithm a
//! Keycloak realm can sign with, keys generated with aws-lc-rs. Beside each, the bare
//! signature check through jsonwebtoken, which is what `bench crypto` calls the crypto limit:
//! the gap between the two is what verification adds around the crypto.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use zeebe_authz::dev::AUDIENCE;
use zeebe_authz_core::claims::ClaimPath;
use zeebe_authz_core::keyset::{KeyLookup, KeySet};
use zeebe_authz_core::signing::{SigningKey, access_token_claims, alg_name, jwks};
use zeebe_authz_core::token::unix_now;
use zeebe_authz_core::token::verify::{TokenRules, parse_header, verify};

const ISSUER: &str = "http://127.0.0.1:8080/realms/camunda";

fn bench_verify(c: &mut Criterion) {
    let policy = zeebe_authz::bench::default_policy().expect("the default policy compiles");
    let rules = TokenRules {
        issuer: Arc::from(ISSUER),
        audiences: Box::new([AUDIENCE.into()]),
        leeway: 30,
        token_type: zeebe_authz_core::token::verify::TokenType::Required,
        permissions_claim: ClaimPath::new(["permissions", AUDIENCE]),
        tenants_claim: None,
        tenants_prefix: None,
    };
    let mut group = c.benchmark_group("verify");
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let name = alg_name(alg);
        let key = SigningKey::generate_for(alg, format!("{name}-1")).expect("key generation");
        let token = key
            .sign(&access_token_claims(
                ISSUER,
                AUDIENCE,
                "bench-client",
                &["write:*"],
                3600,
            ))
            .expect("signing");
        let keys = KeySet::from_jwks(
            jwks(&[&key]).to_string().as_bytes(),
            tokio::time::Instant::now().into_std(),
        )
        .expect("a valid JWKS");
        let header = parse_header(&token).expect("a valid header");
        let KeyLookup::Found(verify_key) = keys.find(header.kid.as_deref(), header.alg) else {
            panic!("the key of {name} is in its JWKS");
        };
        let now = unix_now();
        verify(&token, &header, verify_key, &rules, &policy, now).expect("the token verifies");
        group.bench_function(format!("{name}/token"), |b| {
            b.iter(|| verify(&token, &header, verify_key, &rules, &policy, now))
        });
        let (message, signature) = token.rsplit_once('.').expect("three segments");
        group.bench_function(format!("{name}/signature_only"), |b| {
            b.iter(|| {
                let sig = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
                verify_key.verify_signature(alg, message.as_bytes(), &sig)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
