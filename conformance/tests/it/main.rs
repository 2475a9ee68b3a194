//! The kit checked against stores: correct ones pass the suite, deliberately broken ones fail
//! the properties that describe their fault.

mod broken;
mod harness;
mod reference;
mod stores;
