//! Where an exchange's CPU goes, natively: `cargo run --release -p tasktoken-service --example
//! cost` prints µs per identity-token verification (jsonwebtoken, ES256), per mint (Ed25519)
//! and per policy decision, for docs/performance.md.
use std::time::Instant;

fn main() {
    let pem = std::fs::read("crates/tasktoken-cli/tests/fixtures/oidc-p256.pem")
        .expect("run from the repository root");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("ec key");
    let jwks: serde_json::Value = serde_json::from_slice(
        &std::fs::read("crates/tasktoken-cli/tests/fixtures/oidc-jwks.json").expect("jwks"),
    )
    .expect("json");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][1].clone()).expect("jwk");
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let claims = serde_json::json!({"iss":"https://idp","aud":"https://auth","sub":"repo:acme/app","repository":"acme/app","run_id":"8812","jti":"j1","iat":now,"exp":now+300});
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&["https://idp"]);
    validation.set_audience(&["https://auth"]);
    let n = 5000;
    let t = Instant::now();
    for _ in 0..n {
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            &token,
            &decoding,
            &validation,
        )
        .expect("verify");
    }
    println!(
        "identity token verify (ES256, jsonwebtoken/ring): {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let rsa = jsonwebtoken::EncodingKey::from_rsa_pem(
        &std::fs::read("crates/tasktoken-cli/tests/fixtures/oidc-rsa.pem").expect("rsa"),
    )
    .expect("rsa key");
    let rjwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(jwks["keys"][0].clone()).expect("jwk");
    let rdecoding = jsonwebtoken::DecodingKey::from_jwk(&rjwk).expect("decoding");
    let mut rheader = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    rheader.kid = Some("rsa-1".into());
    let rtoken = jsonwebtoken::encode(&rheader, &claims, &rsa).expect("sign");
    let mut rvalidation = validation.clone();
    rvalidation.algorithms = vec![jsonwebtoken::Algorithm::RS256];
    let t = Instant::now();
    for _ in 0..n {
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            &rtoken,
            &rdecoding,
            &rvalidation,
        )
        .expect("verify");
    }
    println!(
        "identity token verify (RS256 2048, jsonwebtoken/ring): {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let (msg, sig) = token.rsplit_once('.').expect("jws");
    let t = Instant::now();
    for _ in 0..n {
        jsonwebtoken::crypto::verify(
            sig,
            msg.as_bytes(),
            &decoding,
            jsonwebtoken::Algorithm::ES256,
        )
        .expect("sig");
    }
    println!(
        "  of which the ES256 signature alone: {:.1} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let signing = tasktoken::SigningKey::generate("k1").expect("key");
    let issuer = tasktoken::Issuer::new("https://auth", signing).expect("issuer");
    let request = tasktoken::MintRequest::new("ci:acme/app#8812", "deploy-8812/x")
        .with_aud(["artifact-repo"])
        .with_scope("artifacts:read")
        .with_res(["repos/acme/app/*"])
        .with_ttl(300);
    let t = Instant::now();
    for _ in 0..n {
        issuer.mint_at(&request, now).expect("mint");
    }
    println!("mint (Ed25519): {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let policy = tasktoken::Policy::new("p", "ci")
        .and_then(|p| p.claim("repository", "acme/*"))
        .and_then(|p| p.subject("ci:{repository}#{run_id}"))
        .and_then(|p| p.audiences(["artifact-repo"]))
        .and_then(|p| p.task("deploy-{run_id}/*"))
        .and_then(|p| p.scope(["artifacts:read"]))
        .and_then(|p| p.resources(["repos/{repository}/*"]))
        .expect("policy");
    let map = claims.as_object().expect("object").clone();
    let res = vec!["repos/acme/app/*".to_owned()];
    let ask =
        tasktoken::ExchangeRequest::new("artifact-repo", "artifacts:read", &res, "deploy-8812/x");
    let t = Instant::now();
    for _ in 0..n {
        tasktoken::decide_exchange(std::slice::from_ref(&policy), "ci", &map, &ask, 900)
            .expect("grant");
    }
    println!("policy decision: {:.1} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
