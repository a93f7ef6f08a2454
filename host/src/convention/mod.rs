//! Wire conventions: how a guest lays out its ucalls and which exit carries them.
//!
//! - The *seed* convention (`ucall_abi`'s root, [`decode`](crate::decode)): a 56-byte record on
//!   the guest's stack, its address in the exit. `ucall-guest` and the seed-era selftests use it.
//! - The *pool* convention of today's Linux KVM selftests ([`selftests`],
//!   `ucall_abi::selftests`): records in a pool the host allocates, a token in the exit.
//!
//! A guest gets the pool convention when its ELF has the symbol `ucall_pool`, the seed
//! convention otherwise ([`Abi::Auto`]); [`Abi::Seed`] and [`Abi::Selftests`] override that.

pub mod selftests;

use std::fmt;

/// Which convention a host serves a guest in.
///
/// ```
/// use ucall_host::convention::Abi;
///
/// assert_eq!(Abi::Auto.resolve(true), Abi::Selftests);
/// assert_eq!(Abi::Auto.resolve(false), Abi::Seed);
/// assert_eq!(Abi::Seed.resolve(true), Abi::Seed);
/// assert_eq!(Abi::Selftests.to_string(), "selftests");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Abi {
    /// The pool convention if the guest's ELF has `ucall_pool`, else the seed convention.
    #[default]
    Auto,
    /// The seed convention, whatever the ELF has.
    Seed,
    /// The pool convention of today's selftests, whatever the ELF has: a guest without
    /// `ucall_pool` then finds no pool, and its ucalls are [`selftests::Error::NoPool`].
    Selftests,
}

impl Abi {
    /// The convention a guest gets, given whether its ELF has `ucall_pool`: never `Auto`.
    pub fn resolve(self, has_pool_symbol: bool) -> Abi {
        match self {
            Abi::Auto if has_pool_symbol => Abi::Selftests,
            Abi::Auto => Abi::Seed,
            chosen => chosen,
        }
    }
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Abi::Auto => "auto",
            Abi::Seed => "seed",
            Abi::Selftests => "selftests",
        })
    }
}
