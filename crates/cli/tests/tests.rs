//! Integration tests of the `osspart` binary (one test target; each area is a module).

mod support;

mod compat;
mod copy;
mod credentials;
mod crash_client;
mod crash_server;
mod download;

mod home;

mod cli;
mod object_flags;
mod resume;
mod tree;
mod terminal;
