//! A replica's revocation state: a verified snapshot with the deltas applied since, and what
//! the verifier asks of it.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;

use crate::error::{malformed, Error, ErrorKind};
use crate::keys::KeySet;
use crate::revocation::bloom::BloomFilter;
use crate::revocation::format::{Delta, Freshness, Publication, Snapshot};

/// Default grace after `next_update` before revocation data counts as stale, in seconds.
pub const DEFAULT_REVOCATION_GRACE: u32 = 60;
/// The largest grace a verification accepts (one day); more is `malformed`.
pub const MAX_REVOCATION_GRACE: u32 = 86_400;

/// The verified revocation filter a replica holds: a snapshot, plus every delta applied on
/// its serial since. It governs the tokens of one issuer, the one its data names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationFilter {
    freshness: Freshness,
    issuer: String,
    kid: String,
    filter: BloomFilter,
}

impl RevocationFilter {
    /// Verifies a snapshot of `issuer`'s revocations against `keys` — the keys trusted to
    /// sign revocation data for that issuer: its own token keys, or a revocation key set
    /// configured for it — and makes it the filter.
    ///
    /// Rejects malformed or implausible data at `now` and a delta (`malformed`), an unknown
    /// `kid` (`unknown_key`), a bad signature (`bad_signature`), and data for another issuer
    /// (`untrusted_issuer`).
    pub fn from_snapshot(
        bytes: &[u8],
        issuer: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<Self, Error> {
        match verify_for(bytes, issuer, keys, now)? {
            Publication::Snapshot(s) => Ok(Self::from_verified(s)),
            Publication::Delta(_) => Err(malformed("expected a revocation snapshot, got a delta")),
        }
    }

    /// Verifies a delta against `keys` (for this filter's issuer) and applies it. The filter
    /// is unchanged on any error.
    ///
    /// Rejects what [`RevocationFilter::from_snapshot`] rejects, a snapshot (`malformed`), a
    /// delta for another geometry or salt (`malformed`), and a delta whose base serial is not
    /// this filter's serial (`stale_revocation`: fetch a snapshot, or the missing delta).
    pub fn apply_delta(&mut self, bytes: &[u8], keys: &KeySet, now: i64) -> Result<(), Error> {
        match verify_for(bytes, &self.issuer, keys, now)? {
            Publication::Delta(delta) => self.apply(&delta),
            Publication::Snapshot(_) => {
                Err(malformed("expected a revocation delta, got a snapshot"))
            }
        }
    }

    /// A filter from a verified snapshot.
    pub(crate) fn from_verified(snapshot: Snapshot) -> Self {
        RevocationFilter {
            freshness: snapshot.freshness,
            issuer: snapshot.issuer,
            kid: snapshot.kid,
            filter: snapshot.filter,
        }
    }

    /// Applies a verified delta (see [`RevocationFilter::apply_delta`]).
    pub(crate) fn apply(&mut self, delta: &Delta) -> Result<(), Error> {
        if delta.issuer != self.issuer {
            return Err(other_issuer());
        }
        if delta.geometry != self.filter.geometry() || delta.salt != *self.filter.salt() {
            return Err(malformed("the delta is for a filter of another geometry or salt"));
        }
        if delta.base_serial != self.freshness.serial {
            return Err(Error::new(
                ErrorKind::StaleRevocation,
                format!(
                    "delta applies to serial {}, the filter is at serial {}",
                    delta.base_serial, self.freshness.serial
                ),
            ));
        }
        for entry in &delta.entries {
            self.filter.insert_entry(entry);
        }
        self.freshness = delta.freshness;
        self.kid.clone_from(&delta.kid);
        Ok(())
    }

    /// True if `jti` hits the filter (revoked, or a false positive at the filter's rate).
    pub fn contains(&self, jti: &str) -> bool {
        self.filter.contains(jti)
    }

    /// True once `now` is past `next_update` plus `grace` seconds.
    pub fn is_stale(&self, now: i64, grace: u32) -> bool {
        now > self.freshness.next_update.saturating_add(i64::from(grace))
    }

    /// Serial and times of the latest snapshot or delta applied.
    pub fn freshness(&self) -> Freshness {
        self.freshness
    }

    /// The `kid` that signed the latest snapshot or delta applied.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The issuer whose tokens this filter governs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The Bloom filter.
    pub fn bloom(&self) -> &BloomFilter {
        &self.filter
    }
}

/// What a verification consults for revocation, and how it treats stale data.
///
/// With no filter at all, or a filter for another issuer than the token's, verification
/// fails with `stale_revocation`: a verifier configured for revocation never passes a token
/// it could not check (unless failing open). A `grace` over [`MAX_REVOCATION_GRACE`] is
/// `malformed`.
///
/// Built with [`Revocation::new`] and the `with_*` methods (fields may be added).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct Revocation<'a> {
    /// The current filter, if one has been loaded.
    pub filter: Option<&'a RevocationFilter>,
    /// Seconds after `next_update` before the filter is stale (default 60).
    pub grace: u32,
    /// Accept tokens when the data is stale or missing (the stale filter is still
    /// consulted). Off by default; the verified claims then report the stale data.
    pub fail_open_when_stale: bool,
    /// Called on a filter hit with the `jti`; returning `false` overrules the hit (a false
    /// positive, checked against the authority's exact list).
    pub exact_check: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Revocation<'a> {
    /// Checks against `filter` with the default grace, failing closed, with no exact check.
    pub fn new(filter: Option<&'a RevocationFilter>) -> Self {
        Revocation {
            filter,
            grace: DEFAULT_REVOCATION_GRACE,
            fail_open_when_stale: false,
            exact_check: None,
        }
    }

    /// Calls the data stale `seconds` after its `next_update` (default
    /// [`DEFAULT_REVOCATION_GRACE`]); over [`MAX_REVOCATION_GRACE`], verification is
    /// `malformed`.
    pub fn with_grace(self, seconds: u32) -> Self {
        Revocation { grace: seconds, ..self }
    }

    /// DANGER when true: accepts tokens when the data is stale or missing (the stale filter
    /// is still consulted; the verified claims report it). Off by default.
    pub fn with_fail_open_when_stale(self, fail_open: bool) -> Self {
        Revocation { fail_open_when_stale: fail_open, ..self }
    }

    /// Calls `exact_check` with the `jti` on a filter hit; `false` overrules the hit (a false
    /// positive, checked against the authority's exact list).
    pub fn with_exact_check(self, exact_check: &'a dyn Fn(&str) -> bool) -> Self {
        Revocation { exact_check: Some(exact_check), ..self }
    }

    /// `Ok(true)` if the data was stale and ignored (fail-open), `Ok(false)` if checked.
    /// Only a filter of the token's issuer `iss` counts as data.
    pub(crate) fn check(&self, iss: &str, jti: &str, now: i64) -> Result<bool, Error> {
        if self.grace > MAX_REVOCATION_GRACE {
            return Err(malformed("revocation grace is over one day (86400 s)"));
        }
        let filter = self.filter.filter(|f| f.issuer == iss);
        let stale = filter.is_none_or(|f| f.is_stale(now, self.grace));
        if stale && !self.fail_open_when_stale {
            let why = match (self.filter, filter) {
                (None, _) => Cow::Borrowed("no revocation data has been loaded"),
                (Some(_), None) => {
                    Cow::Borrowed("the revocation data is for another issuer than the token's")
                }
                (_, Some(f)) => format!(
                    "revocation data serial {} was due for update at {}",
                    f.freshness.serial, f.freshness.next_update
                )
                .into(),
            };
            return Err(Error::new(ErrorKind::StaleRevocation, why));
        }
        let hit = filter.is_some_and(|f| f.contains(jti));
        if hit && self.exact_check.is_none_or(|exact| exact(jti)) {
            return Err(Error::new(ErrorKind::Revoked, "the token has been revoked"));
        }
        Ok(stale)
    }
}

impl core::fmt::Debug for Revocation<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Revocation")
            .field("filter", &self.filter.map(|x| x.freshness))
            .field("grace", &self.grace)
            .field("fail_open_when_stale", &self.fail_open_when_stale)
            .field("exact_check", &self.exact_check.is_some())
            .finish()
    }
}

/// Verifies a publication and checks that it is plausible at `now` and governs `issuer`.
pub(crate) fn verify_for(
    bytes: &[u8],
    issuer: &str,
    keys: &KeySet,
    now: i64,
) -> Result<Publication, Error> {
    let publication = Publication::verify(bytes, keys)?;
    if publication.issuer() != issuer {
        return Err(other_issuer());
    }
    publication.freshness().check_plausible_at(now)?;
    Ok(publication)
}

fn other_issuer() -> Error {
    Error::new(ErrorKind::UntrustedIssuer, "the revocation data is for another issuer")
}
