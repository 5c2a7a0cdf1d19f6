//! What the executor's integration tests share.

/// The kubeconfig of the real kube-apiserver (`TPT_TEST_KUBECONFIG`, set by
/// `.ci/run`); without one the test skips, saying why — unless
/// `TPT_REQUIRE_KUBE` is set (CI), where it fails.
pub fn kubeconfig() -> Option<std::path::PathBuf> {
    match std::env::var_os("TPT_TEST_KUBECONFIG") {
        Some(p) => Some(p.into()),
        None => {
            assert!(
                std::env::var_os("TPT_REQUIRE_KUBE").is_none(),
                "TPT_REQUIRE_KUBE is set but no TPT_TEST_KUBECONFIG: the kube-apiserver did not start"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipped: no Kubernetes API server (set TPT_TEST_KUBECONFIG; .ci/run starts one)");
            }
            None
        }
    }
}

/// The endpoint of the moto AWS emulator (`TPT_TEST_MOTO_URL`, set by
/// `.ci/run`); without one the test skips, saying why — unless
/// `TPT_REQUIRE_MOTO` is set (CI), where it fails.
#[allow(dead_code)]
pub fn moto() -> Option<String> {
    match std::env::var("TPT_TEST_MOTO_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("TPT_REQUIRE_MOTO").is_none(),
                "TPT_REQUIRE_MOTO is set but no TPT_TEST_MOTO_URL: moto did not start"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!("skipped: no AWS emulator (set TPT_TEST_MOTO_URL; .ci/run starts moto)");
            }
            None
        }
    }
}
