//! The token service (`tasktoken serve`) and the authority's stores.
//!
//! A workload never holds the issuer's key: it proves who it is with the identity token its
//! platform gives it and exchanges it (RFC 8693) for a task token under a policy. The policy
//! decision, minting, DPoP and revocation planning are the core's (`tasktoken`); this crate
//! holds the HTTP layer, the identity providers' keys and the stores.
//!
//! The public interface is:
//! - [`Config`] ([`ConfigError`], [`ApprovalConfig`], [`AuditTarget`]): the TOML
//!   configuration, checked at start;
//! - [`approvals`]: approval requests in a store, listed and decided (the service's
//!   endpoints and `tasktoken approvals --config` share it);
//! - [`run`]: the service, until SIGTERM;
//! - [`store`]: the [`store::Store`] trait with [`store::SqliteStore`] (the CLI's file) and
//!   [`store::PostgresStore`] (many instances), and [`store::open`];
//! - [`publish`]: publishing a store as signed revocation data ([`publish::Publisher`]);
//! - [`duration::parse_duration`]: `90s`, `5m`, `1h30m`, for the CLI and the config.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod approvals;
mod audit;
mod config;
pub mod duration;
mod identity;
pub mod publish;
mod server;
pub mod store;

pub use config::{ApprovalConfig, AuditTarget, Config, ConfigError};
pub use server::run;
