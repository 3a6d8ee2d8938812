//! Files: organizations' documents on the object store. This first part holds the two checks
//! every upload passes before it is `ready`, whatever way it came in:
//! - [`sniff`]: what the bytes are (magic bytes and container contents), never what the client
//!   said (its `Content-Type` and file extension are not trusted);
//! - [`scan`]: ClamAV's `clamd` over `INSTREAM`, whose every outcome other than a completed
//!   clean scan is `unscanned` or `infected`, never clean.

pub mod scan;
pub mod sniff;
