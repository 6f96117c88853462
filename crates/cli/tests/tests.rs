//! Integration tests of the `osspart` binary (one test target; each area is a module).

mod support;

mod compat;
mod copy;
mod crash_client;
mod crash_server;
mod credentials;
mod download;

mod home;
mod memory;

mod cli;
mod object_flags;
mod resume;
mod shutdown;
mod siege;
mod terminal;
mod tree;
