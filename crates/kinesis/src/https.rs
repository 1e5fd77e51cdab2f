//! The HTTPS client every AWS SDK client of the workspace uses: the SDK's
//! own hyper 1.x client with rustls over *ring*, where the SDK's default
//! (`default-https-client`) uses rustls over AWS-LC.
//!
//! AWS-LC is a C library built from source with CMake: it took about 113 s of
//! a first release build (`cargo build --release --timings`, 2026-12-03),
//! while *ring*, which the archive's `object_store` links anyway, builds in
//! about 23 s. What the
//! default client does besides is kept: the proxy from `HTTPS_PROXY` /
//! `HTTP_PROXY` / `NO_PROXY`, and the SDK's connect and read timeouts and
//! sleep implementation. Given up: the post-quantum hybrid key exchange
//! (X25519MLKEM768) that rustls offers only over AWS-LC; TLS 1.3 with
//! X25519 is negotiated instead.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// A new HTTPS client (build one per SDK configuration, as the SDK does:
/// its connection pools belong to the Tokio runtime that opened them).
pub fn client() -> SharedHttpClient {
    // The SDK builds its default client the same way: a connector per
    // connector settings (timeouts), each with its own pool.
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}
