//! Typed configuration for the `vextrus` binary.
//!
//! Precedence, weakest first: built-in defaults < `vextrus.toml` < `VEXTRUS_*` environment
//! (and a few conventional names such as `DATABASE_URL`) < command-line flags. Every secret may
//! also be given as `<ENV>_FILE`, a path whose contents are the value (Docker and Kubernetes
//! secrets). Unknown keys and unknown `VEXTRUS_*` variables are warnings; a value of the wrong
//! type or out of range is an error that names the key and where it came from.

mod fields;
mod load;
mod model;

pub use fields::{FIELDS, Field, Kind, field};
pub use load::{ConfigError, Loaded, Sources, load};
pub use model::{
    AuditConfig, AuthConfig, Config, DatabaseConfig, FilesConfig, HttpConfig, JobsConfig, LimitsConfig, LogConfig,
    LogFormat, NotifyConfig, RegistryConfig, StorageConfig,
};
pub use secrecy::{ExposeSecret, SecretString};
