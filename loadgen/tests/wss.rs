//! The load generator over `wss://` against our server with native TLS
//! (`security.transport.tls`), started in-process on an ephemeral port with a certificate from a
//! CA made here.

use std::path::Path;
use std::process::{Command, Output};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use signal_fish_server::config::Config;
use signal_fish_server::{Server, ServerHandle};

/// A CA certificate (PEM) and a server chain and key it signed for 127.0.0.1.
fn make_ca(dir: &Path, name: &str) -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key"))
        .expect("CA certificate");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let write = |file: &str, text: String| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, text).expect("write PEM");
        path.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("chain.pem", format!("{}{}", leaf.pem(), ca.pem())),
        write("key.pem", key.serialize_pem()),
    )
}

fn start_tls(chain: &str, key: &str) -> ServerHandle {
    let mut config = Config {
        port: 0,
        ..Config::default()
    };
    config.server.shards = 2;
    // No logs on the test output, no `logs/` directory.
    config.logging.level = Some("off".to_owned());
    config.logging.enable_file_logging = false;
    config.security.max_connections_per_ip = 100_000;
    config.rate_limit.max_room_creations = 100_000;
    config.rate_limit.max_join_attempts = 100_000;
    let tls = &mut config.security.transport.tls;
    tls.enabled = true;
    tls.certificate_path = Some(chain.to_owned());
    tls.private_key_path = Some(key.to_owned());
    Server::start(config).expect("TLS server starts")
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signal-fish-bench"))
        .args(["--progress", "0"])
        .args(args)
        .output()
        .expect("bench runs")
}

fn json_of(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    parse(out)
}

/// The JSON line of a run, whether it succeeded or not.
fn parse(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

#[test]
fn relay_over_wss_and_refusals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, chain, key) = make_ca(dir.path(), "good");
    let (other_ca, _, _) = make_ca(dir.path(), "other");
    let server = start_tls(&chain, &key);
    let url = format!("wss://127.0.0.1:{}/v2/ws", server.port());
    let pid = std::process::id().to_string();

    let out = json_of(&bench(&[
        "--url",
        &url,
        "--tls-ca",
        &ca,
        "-n",
        "24",
        "-p",
        "3",
        "-r",
        "50",
        "-d",
        "1",
        "-w",
        "0.3",
        "--server-pid",
        &pid,
    ]));
    assert_eq!(out["connect"]["ok"], 24, "{}", out["connect"]);
    assert_eq!(out["join"]["rooms_ok"], 8, "{}", out["join"]);
    let relay = &out["relay"];
    assert!(relay["sent"].as_u64().unwrap_or(0) > 500, "{relay}");
    assert_eq!(relay["delivery_ratio"], 1.0, "{relay}");
    assert!(
        out["connect_cpu"]["server_cpu_s"].as_f64().is_some(),
        "{}",
        out["connect_cpu"]
    );

    // A server certificate from a CA the generator was not given is refused, and a run whose
    // connections all failed fails.
    let refused = bench(&[
        "--url",
        &url,
        "--tls-ca",
        &other_ca,
        "--mode",
        "idle",
        "-n",
        "2",
        "--idle-settle",
        "0",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let out = parse(&refused);
    assert_eq!(out["connect"]["ok"], 0);
    assert_eq!(out["failures"]["connections"], 2, "{out}");
    let error = out["connect"]["errors"][0].as_str().unwrap_or_default();
    assert!(
        error.contains("TLS handshake") && error.contains("certificate"),
        "{error}"
    );

    // wss:// without a CA to trust is a usage error.
    let out = bench(&["--url", &url, "--mode", "idle", "-n", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-ca"));
    server.shutdown();
}
