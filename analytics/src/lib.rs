//! Analytics over the ledger: DataFusion SQL, finance reports and churn
//! models.
//!
//! The crate has no code yet.
