//! For tests: a throwaway TEST-ONLY channel and a configuration on a free port that uses it.

use crate::config::Config;

/// The channel id tests use.
pub const CHANNEL_ID: &str = "1650000000";
/// The channel secret tests use (never a LINE Pay channel's).
pub const CHANNEL_SECRET: &str = "test_only_linepaysim_channel_secret_0123";

/// A simulator configuration on a free local port with the test channel, taking TWD.
pub fn test_config() -> Config {
    Config::new(CHANNEL_ID, CHANNEL_SECRET, "TWD")
}
