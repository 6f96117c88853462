//! Integration tests of osspart-server, one binary.

mod support;

mod accounts;
mod append;
mod bad_input;
mod hostile;
mod sequential;
mod store;
