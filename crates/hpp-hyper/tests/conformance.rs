//! The transport contract, checked by the conformance kit.

#[tokio::test]
async fn the_default_transport_keeps_the_contract() {
    hpp_conformance::check(&hpp_hyper::HyperTransport::new()).await.assert_passed();
}

#[tokio::test]
async fn a_client_built_from_the_documented_builders_keeps_the_contract() {
    use hpp_hyper::HyperTransport;
    let connector = HyperTransport::connector(hpp_runtime::tls::client_config(), std::time::Duration::from_secs(5));
    let client = HyperTransport::client_builder().pool_max_idle_per_host(1).build(connector);
    let report = hpp_conformance::check_with(
        &HyperTransport::from_client(client).with_body_limit(4096),
        &hpp_conformance::Options::default().with_body_limit(4096),
    )
    .await;
    report.assert_passed();
}

#[tokio::test]
async fn https_works_with_the_configured_roots_and_only_with_them() {
    use hpp_hyper::HyperTransport;
    hpp_conformance::check_tls(|root| {
        let roots = hpp_runtime::tls::roots_from_der([root]).expect("the test root parses");
        let tls = hpp_runtime::tls::client_config_with_roots(roots);
        let client =
            HyperTransport::client_builder().build(HyperTransport::connector(tls, std::time::Duration::from_secs(5)));
        HyperTransport::from_client(client)
    })
    .await
    .assert_passed();
}
