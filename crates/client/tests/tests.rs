//! End-to-end tests of the client against a real `osspart serve` on loopback.

mod support;

mod copy;
mod download;
mod examples;
mod hostile_service;
mod interop;
mod operation_model;
mod ops;
mod part_places;
mod resume;
mod single;
mod upload;
