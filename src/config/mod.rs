//! Configuration: reading a monitors file (YAML or JSON, optionally gzip) into validated
//! [`model::MonitorSpec`]s. (The loader itself is being written; see `load`.)

pub mod model;
