//! The per-client rate limit of the customer's return (`/return/{provider}/{trade no}`): the
//! route is unsigned and open to anyone, so each client address may call it at most
//! `RETURN_RATE_PER_MINUTE` times a minute (a burst of that many, refilled evenly); past it the
//! answer is 429 with `Retry-After`.
//!
//! A GCRA limiter per address from the `governor` crate (docs/dependencies.md), kept in memory:
//! per instance, not shared between notify-handler instances (the per-order limit on queries,
//! `return_queries`, is the one that holds across instances). The client is the TCP peer;
//! behind a reverse proxy that is the proxy, and the proxy should limit per client itself. An
//! IPv6 client counts by its /64 network (one host usually has a whole /64 to pick addresses
//! from), an IPv4-mapped IPv6 address as the IPv4 one.
//! Addresses not seen for a while are forgotten ([`ClientLimit::forget_idle`], every minute), so
//! the table holds only recent clients.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// The limiter, shared by every request.
pub struct ClientLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    per_minute: NonZeroU32,
}

impl ClientLimit {
    /// At most `per_minute` calls a minute per client address.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            per_minute,
        }
    }

    /// The configured rate, for messages.
    pub fn rate(&self) -> NonZeroU32 {
        self.per_minute
    }

    /// Takes one call for `client`: `Ok` if it is within its rate, else how long until it is.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.limiter.check_key(&key(client)).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets the clients whose limit is back to full (they look like new ones next time).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many client addresses are remembered.
    pub fn clients(&self) -> usize {
        self.limiter.len()
    }
}

/// The address a client counts as: an IPv6 one's /64 network, an IPv4-mapped one's IPv4.
fn key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_network() {
        let limit = ClientLimit::per_minute(NonZeroU32::new(1).unwrap());
        assert!(limit.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(limit.check("2001:db8:1:2:ffff::9".parse().unwrap()).is_err(), "same /64");
        assert!(limit.check("2001:db8:1:3::1".parse().unwrap()).is_ok(), "another /64");
        assert!(limit.check("192.0.2.1".parse().unwrap()).is_ok());
        assert!(limit.check("::ffff:192.0.2.1".parse().unwrap()).is_err(), "the same IPv4 client");
    }

    #[test]
    fn each_client_has_its_own_budget() {
        let limit = ClientLimit::per_minute(NonZeroU32::new(3).unwrap());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limit.check(a).is_ok());
        }
        let wait = limit.check(a).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limit.check(b).is_ok(), "another client is not held up");
        assert_eq!(limit.clients(), 2);
    }
}
