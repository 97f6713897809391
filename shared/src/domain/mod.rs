//! The domain core: money and identifiers. Each type parses its input once, at the edge, and
//! afterwards cannot hold an invalid value.
