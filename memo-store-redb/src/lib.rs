//! redb store for memo: the embedded persistent default
