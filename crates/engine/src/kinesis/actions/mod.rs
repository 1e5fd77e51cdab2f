//! The service's actions, grouped by what they act on. Each is an `Engine`
//! method called by [`super::Engine::call`].

pub(crate) mod get;
pub(crate) mod put;
pub(crate) mod reshard;
pub(crate) mod settings;
pub(crate) mod streams;
