//! Durations on the command line: the service crate's parser, which the configuration file
//! uses too (one rule for `90s`, `5m`, `1h30m` everywhere).

pub use tasktoken_service::duration::parse_duration;
