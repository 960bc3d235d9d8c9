//! What an authority publishes next: one planner for every authority (the CLI's `filter`
//! commands, the npm package's signing helpers, the gateway's Durable Object, the token
//! service), so that capacity, generations and serials are decided once.
//!
//! - **Serials** grow by at least one per publication and never fall below the publication
//!   time shifted left by [`SERIAL_TIME_SHIFT`] bits: a replica can then refuse a serial
//!   that claims to come from the future ([`crate::Freshness::check_plausible_at`]), so no
//!   key can pin replicas with a huge serial for longer than [`MAX_FUTURE_SKEW`].
//! - **Capacity follows the live revocation count**: a new generation (snapshot, fresh salt)
//!   is sized for twice the live revocations (at least a minimum), and once the entries of a
//!   generation would push its expected false-positive rate past the target, the next
//!   publication is a new generation instead of a delta.

use crate::error::{malformed, Error};
use crate::revocation::bloom::{BloomGeometry, DEFAULT_FPR};
use crate::revocation::format::Freshness;

/// The longest a publication may stay current (`next_update - issued_at`): one day.
pub const MAX_VALID_FOR: u32 = 86_400;
/// How long a publication stays current unless configured otherwise: 5 minutes.
pub const DEFAULT_VALID_FOR: u32 = 300;
/// The smallest capacity a new generation is sized for, unless configured otherwise.
pub const DEFAULT_MIN_CAPACITY: u64 = 1000;
/// A serial is at least its publication time (seconds) shifted left by this many bits,
/// leaving room for 2^20 publications a second.
pub const SERIAL_TIME_SHIFT: u32 = 20;
/// The largest serial: 2^53 - 1, exact in a JavaScript number (enough until the year 2242).
pub const MAX_SERIAL: u64 = (1 << 53) - 1;
/// How far in the future (seconds) a publication's time or serial may seem to a replica.
pub const MAX_FUTURE_SKEW: i64 = 300;

/// The generation a delta would extend: its geometry and the entries it already holds
/// (every revocation inserted since its snapshot, expired or not).
///
/// Built with [`Generation::new`] (fields may be added).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Generation {
    /// The geometry of the generation's filter.
    pub geometry: BloomGeometry,
    /// Entries in the filter (snapshot entries plus every delta's since).
    pub entries: u64,
}

impl Generation {
    /// The generation of a filter of `geometry` holding `entries` entries.
    pub const fn new(geometry: BloomGeometry, entries: u64) -> Self {
        Generation { geometry, entries }
    }
}

/// What to publish next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A delta on the current generation: it still holds the additions at the target rate.
    Delta,
    /// A new generation: a snapshot of every live revocation, with this geometry and a fresh
    /// salt.
    Snapshot(BloomGeometry),
}

/// Decides serials, validity, capacity and generations for an authority.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublicationPlanner {
    fpr: f64,
    min_capacity: u64,
    valid_for: u32,
}

impl Default for PublicationPlanner {
    fn default() -> Self {
        PublicationPlanner {
            fpr: DEFAULT_FPR,
            min_capacity: DEFAULT_MIN_CAPACITY,
            valid_for: DEFAULT_VALID_FOR,
        }
    }
}

impl PublicationPlanner {
    /// A planner for target false-positive rate `fpr`, new generations of at least
    /// `min_capacity` entries, and publications current for `valid_for` seconds.
    ///
    /// Rejects an `fpr` outside (0, 1), a capacity of 0 or over the 16 MiB filter limit at
    /// that rate, and a `valid_for` of 0 or over [`MAX_VALID_FOR`] (`malformed`).
    pub fn new(fpr: f64, min_capacity: u64, valid_for: u32) -> Result<Self, Error> {
        BloomGeometry::for_capacity(min_capacity, fpr)?;
        if valid_for == 0 || valid_for > MAX_VALID_FOR {
            return Err(malformed("revocation data must be valid for 1 s to one day"));
        }
        Ok(PublicationPlanner { fpr, min_capacity, valid_for })
    }

    /// Serial and times of the publication that follows `previous_serial` (0 for the first),
    /// made at `now`: serial `max(previous + 1, now << 20)`, current for `valid_for` seconds.
    ///
    /// Rejects a serial that would pass [`MAX_SERIAL`] and a `now` before 1970 (`malformed`).
    pub fn freshness(&self, previous_serial: u64, now: i64) -> Result<Freshness, Error> {
        let now_bits = u64::try_from(now)
            .ok()
            .and_then(|t| t.checked_shl(SERIAL_TIME_SHIFT).filter(|s| *s >> SERIAL_TIME_SHIFT == t))
            .ok_or_else(|| malformed("the clock is outside the range serials can encode"))?;
        let serial = previous_serial.saturating_add(1).max(now_bits);
        if serial > MAX_SERIAL {
            return Err(malformed("revocation serials are exhausted (above 2^53 - 1)"));
        }
        Ok(Freshness {
            serial,
            issued_at: now,
            next_update: now.saturating_add(i64::from(self.valid_for)),
        })
    }

    /// The geometry of a new generation holding `live` revocations: sized for
    /// `max(2 * live, min_capacity)` at the target rate, so that deltas have room.
    ///
    /// Rejects a count whose filter would pass 16 MiB (`malformed`).
    pub fn geometry_for(&self, live: u64) -> Result<BloomGeometry, Error> {
        BloomGeometry::for_capacity(live.saturating_mul(2).max(self.min_capacity), self.fpr)
    }

    /// A delta if `generation` can take `adding` more entries and stay at or under the target
    /// rate; otherwise a new generation sized for the `live` revocations (those added
    /// included).
    pub fn plan(
        &self,
        generation: Option<Generation>,
        adding: u64,
        live: u64,
    ) -> Result<Step, Error> {
        if let Some(generation) = generation {
            let entries = generation.entries.saturating_add(adding);
            if generation.geometry.false_positive_rate(entries) <= self.fpr {
                return Ok(Step::Delta);
            }
        }
        Ok(Step::Snapshot(self.geometry_for(live)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_time_and_never_repeat() {
        let planner = PublicationPlanner::default();
        let now = 1_800_000_000;
        let first = planner.freshness(0, now).expect("first");
        assert_eq!(first.serial, (now as u64) << SERIAL_TIME_SHIFT);
        assert_eq!(first.next_update, now + 300);
        let second = planner.freshness(first.serial, now).expect("second");
        assert_eq!(second.serial, first.serial + 1);
        let later = planner.freshness(second.serial, now + 1).expect("later");
        assert_eq!(later.serial, ((now + 1) as u64) << SERIAL_TIME_SHIFT);
        // A small counter from before time-based serials is overtaken, never repeated.
        assert!(planner.freshness(7, now).expect("old").serial > 7);
        assert!(planner.freshness(MAX_SERIAL, now).is_err());
        assert!(planner.freshness(0, -1).is_err());
        first.check_plausible_at(now).expect("plausible now");
        assert!(first.check_plausible_at(now - MAX_FUTURE_SKEW - 1).is_err());
    }

    #[test]
    fn capacity_follows_the_live_count() {
        let planner = PublicationPlanner::default();
        let small = planner.geometry_for(0).expect("small");
        assert_eq!(small, BloomGeometry::for_capacity(1000, DEFAULT_FPR).expect("1000"));
        let big = planner.geometry_for(50_000).expect("big");
        assert_eq!(big, BloomGeometry::for_capacity(100_000, DEFAULT_FPR).expect("100k"));
        assert_eq!(planner.plan(None, 1, 1).expect("first"), Step::Snapshot(small));
        let generation = Generation { geometry: small, entries: 900 };
        assert_eq!(planner.plan(Some(generation), 100, 1000).expect("fits"), Step::Delta);
        let full = planner.plan(Some(generation), 200, 1100).expect("full");
        assert_eq!(full, Step::Snapshot(planner.geometry_for(1100).expect("g")));
    }

    #[test]
    fn configuration_is_bounded() {
        assert!(PublicationPlanner::new(1e-6, 1000, 300).is_ok());
        assert!(PublicationPlanner::new(0.0, 1000, 300).is_err());
        assert!(PublicationPlanner::new(1e-6, 0, 300).is_err());
        assert!(PublicationPlanner::new(1e-6, 1000, 0).is_err());
        assert!(PublicationPlanner::new(1e-6, 1000, MAX_VALID_FOR + 1).is_err());
    }
}
