//! The kit checked against stores: a correct one passes, broken ones fail.

mod reference;
