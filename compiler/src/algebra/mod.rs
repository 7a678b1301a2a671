//! Exact set algebra behind the compiler's semantic core: label selectors,
//! IP address sets, port sets, FQDN patterns, and products of them. Every
//! operation is exact; where a result cannot be written in the target
//! notation, the operation returns an error instead of approximating.

pub mod fqdn;
pub mod icmp;
pub mod intervals;
pub mod ipset;
pub mod labels;
pub mod ports;
pub mod product;
