//! `cargo bench -p tasktoken`: the native core on the same tokens as `make bench` — full
//! verification vs ed25519-dalek's `verify_strict` alone (the floor), medians of rounds.

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::Signer as _;
use tasktoken::__private::PreparedKeyHook;
use tasktoken::{
    Issuer, KeySet, MintRequest, ProofKeyCache, ProofReplayCache, ProofRequest, ProofSigningKey,
    Request, SigningKey, Verifier, VerifyContext,
};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn bench(name: &str, ops: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut rounds = Vec::new();
    for round in 0..8 {
        let start = Instant::now();
        for i in 0..ops {
            f(i);
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / ops as f64;
        if round > 0 {
            rounds.push(us);
        }
    }
    let m = median(rounds);
    println!("{name:<52} {m:>9.2} µs/op");
    m
}

fn main() {
    let key = SigningKey::from_seed("bench", &[1u8; 32]).expect("kid");
    let issuer = Issuer::new("https://auth.example", key.clone()).expect("issuer");
    let now = 1_800_000_000;
    let tokens: Vec<String> = (0..256)
        .map(|i| {
            let request = MintRequest::new("agent:lookup-bot", format!("lookup-{i}"))
                .with_aud(["crm-api"])
                .with_scope("customers:read")
                .with_res(["customers/4821"])
                .with_ttl(900);
            issuer.mint_at(&request, now).expect("mint")
        })
        .collect();
    let keys = KeySet::from_keys([key.public_key()]).expect("keys");
    let verifier =
        Verifier::new("crm-api").expect("v").trust("https://auth.example", &keys).expect("t");
    let request = Request::new("customers:read", "customers/4821");
    let full = bench("tasktoken Verifier::verify_at (distinct tokens)", 2000, |i| {
        black_box(verifier.verify_at(&tokens[i % 256], &request, now + 10).expect("valid"));
    });
    let dalek = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let public = dalek.verifying_key();
    let messages: Vec<(Vec<u8>, ed25519_dalek::Signature)> = tokens
        .iter()
        .map(|t| {
            let input = t.as_bytes()[..t.rfind('.').expect("dot")].to_vec();
            let sig = dalek.sign(&input);
            (input, sig)
        })
        .collect();
    let floor = bench("ed25519-dalek verify_strict alone (the floor)", 2000, |i| {
        let (m, s) = &messages[i % 256];
        public.verify_strict(m, s).expect("valid");
    });
    bench("tasktoken Issuer::mint_at", 2000, |_| {
        let request = MintRequest::new("agent:x", "t")
            .with_aud(["crm-api"])
            .with_scope("customers:read")
            .with_res(["customers/4821"])
            .with_ttl(900);
        black_box(issuer.mint_at(&request, now).expect("mint"));
    });
    println!("full verification / signature alone: {:.2}", full / floor);
    chains(&issuer, &verifier, &tokens, now);

    // `verifyBatch`, the question of issue 7: ed25519-dalek's batch verification (with the
    // small-order checks it skips added back, by encoding: free) against the per-key table,
    // signature checks only, on the same messages.
    let prepared = PreparedKeyHook::new(public.as_bytes()).expect("key");
    let signatures: Vec<[u8; 64]> = messages.iter().map(|(_, s)| s.to_bytes()).collect();
    let table = bench("per-key table, one signature at a time", 2000, |i| {
        assert!(prepared.verify(&messages[i % 256].0, &signatures[i % 256]));
    });
    for n in [16, 64, 256] {
        let msgs: Vec<&[u8]> = messages[..n].iter().map(|(m, _)| m.as_slice()).collect();
        let sigs: Vec<_> = messages[..n].iter().map(|(_, s)| *s).collect();
        let keys = vec![public; n];
        let per_batch = bench(&format!("ed25519-dalek verify_batch, {n} per batch"), 40, |_| {
            ed25519_dalek::verify_batch(&msgs, &sigs, &keys).expect("valid");
        });
        let per_token = per_batch / n as f64;
        println!(
            "    {per_token:.2} µs per signature; vs the per-key table {:.2}",
            per_token / table
        );
    }

    // DPoP (issue 15): one bound token, a fresh Ed25519 proof per request, with the replay
    // cache and the proof key's table as the package keeps them, against an unbound token of
    // the same verifier; neither through the verified-token cache. The target: the proof
    // costs at most one more signature check (`per-key table` below).
    let proof_key = ProofSigningKey::generate("EdDSA").expect("proof key");
    let mint = MintRequest::new("agent:lookup-bot", "lookup-4821")
        .with_aud(["crm-api"])
        .with_scope("customers:read")
        .with_res(["customers/4821"])
        .with_ttl(900)
        .with_cnf_jkt(proof_key.thumbprint());
    let bound = issuer.mint_at(&mint, now).expect("mint");
    let url = "https://api.example/customers/4821";
    let ops = 2000;
    let proofs: Vec<String> = (0..ops * 8)
        .map(|_| proof_key.proof("GET", url, Some(&bound), None, now).expect("proof"))
        .collect();
    let replay = ProofReplayCache::new(proofs.len());
    let proof_keys = ProofKeyCache::new();
    let mut next = 0;
    let with_proof = bench("tasktoken verify, bound token + Ed25519 proof", ops, |_| {
        let dpop = ProofRequest::new(&proofs[next], "GET", url);
        next += 1;
        let context = VerifyContext::new().with_proof_replay(&replay).with_proof_keys(&proof_keys);
        black_box(
            verifier.verify_with(&bound, &request.with_proof(dpop), now + 10, context).expect("ok"),
        );
    });
    let alone = bench("tasktoken verify, the unbound token alone", ops, |i| {
        black_box(verifier.verify_at(&tokens[i % 256], &request, now + 10).expect("valid"));
    });
    let extra = with_proof - alone;
    println!(
        "    the proof adds {extra:.2} µs: {:.2} signature checks through a table",
        extra / table
    );
}

/// Delegation (issue 16): chains of depth 1–4 against verifying the same number of plain
/// tokens (d + 1), each chain unbound at its last link; a chain costs about d + 1 signature
/// checks (the root through the issuer key's table, each link with `verify_strict`).
fn chains(issuer: &Issuer, verifier: &Verifier, tokens: &[String], now: i64) {
    let request = Request::new("customers:read", "customers/4821");
    let orchestrator = ProofSigningKey::generate("EdDSA").expect("key");
    let root = issuer
        .clone()
        .max_delegation(4)
        .expect("depth")
        .mint_at(
            &MintRequest::new("agent:orchestrator", "lookup")
                .with_aud(["crm-api"])
                .with_scope("customers:read")
                .with_res(["customers/*"])
                .with_ttl(900)
                .with_cnf_jkt(orchestrator.thumbprint())
                .with_dlg(4),
            now,
        )
        .expect("root");
    let mut chain = root;
    let mut key = orchestrator;
    for depth in 1..=4u32 {
        let last = depth == 4;
        let next = ProofSigningKey::generate("EdDSA").expect("key");
        let task = format!("lookup{}", "/x".repeat(depth as usize));
        let mut link = tasktoken::LinkRequest::new(format!("agent:sub-{depth}"), task)
            .with_aud(["crm-api"])
            .with_scope("customers:read")
            .with_res(["customers/4821"])
            .with_ttl(600)
            .with_dlg(4 - depth);
        link.cnf_jkt = (!last).then(|| next.thumbprint());
        chain = tasktoken::delegate(&chain, &key, &link, now).expect("delegate");
        key = next;
        // The last link of this length is bound (but at depth 4): verify as its holder.
        let thumb = (!last).then(|| key.thumbprint());
        let mut bound = request;
        bound.key_thumbprint = thumb.as_deref();
        let one = bench(&format!("tasktoken chain of depth {depth}"), 1000, |_| {
            black_box(verifier.verify_at(&chain, &bound, now + 10).expect("valid chain"));
        });
        let plain = bench(&format!("  {} plain tokens, one after another", depth + 1), 1000, |i| {
            for t in 0..=depth as usize {
                let token = &tokens[(i + t) % tokens.len()];
                black_box(verifier.verify_at(token, &request, now + 10).expect("valid"));
            }
        });
        println!("    chain / the same number of plain tokens: {:.2}", one / plain);
    }
}
