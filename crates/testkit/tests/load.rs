//! Load test (pending).
