//! The revocation store: the service crate's one implementation (SQLite here), shared by
//! `revoke`, `filter`, `scan --revoke` and `serve`. Its failures are file errors (exit 2).

pub use tasktoken_service::store::Store as StoreTrait;
pub use tasktoken_service::store::{Open, SqliteStore as Store};

use crate::failure::Failure;

impl From<tasktoken_service::store::StoreError> for Failure {
    fn from(error: tasktoken_service::store::StoreError) -> Self {
        Failure::Io(error.0)
    }
}

impl From<tasktoken_service::publish::PublishError> for Failure {
    fn from(error: tasktoken_service::publish::PublishError) -> Self {
        match error {
            tasktoken_service::publish::PublishError::Store(e) => e.into(),
            tasktoken_service::publish::PublishError::Core(e) => e.into(),
        }
    }
}
