//! What every service binary runs on.
