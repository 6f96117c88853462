//! Integration tests of osspart-server, one binary.

mod support;

mod accounts;
mod append;
mod bad_input;
mod hostile;
mod path_style;
mod sequential;
mod store;
