//! Integration tests of the `osspart` binary (one test target; each area is a module).

mod support;

mod compat;
