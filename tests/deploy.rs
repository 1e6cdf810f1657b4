//! The Kubernetes manifests in deploy/kubernetes, checked as far as is possible without a
//! cluster (their schema is checked offline by `.ci/run` with kubernetes-validate): every
//! actlog command line in them is one actlog accepts, and run here for real — the
//! sidecar's own arguments start a server, its three probe commands pass against it, the
//! CronJob's maintenance runs — and they have the shape the README promises (a native
//! sidecar, exec probes only, a disruption budget, a CronJob that cannot pile up).

mod common;

use clap::Parser;
use common::{Server, actlog};
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// Every document of every manifest, with its file.
fn documents() -> Vec<(PathBuf, Yaml)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let docs =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.extend(docs.into_iter().map(|d| (path.clone(), d)));
    }
    out
}

fn kind(doc: &Yaml) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

/// The pod template of a Deployment or CronJob.
fn pod_spec(doc: &Yaml) -> Option<&Yaml> {
    let spec = match kind(doc) {
        "Deployment" => &doc["spec"]["template"]["spec"],
        "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => return None,
    };
    Some(spec)
}

/// The containers running the actlog image, with the list they are in.
fn actlog_containers(spec: &Yaml) -> Vec<(&'static str, &Yaml)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_vec().into_iter().flatten() {
            if c["image"].as_str().unwrap_or("").contains("actlog") {
                out.push((list, c));
            }
        }
    }
    out
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

const PROBES: [&str; 3] = ["startupProbe", "livenessProbe", "readinessProbe"];

/// A probe's exec command, without the program.
fn probe_command(c: &Yaml, probe: &str) -> Vec<String> {
    let cmd = strings(&c[probe]["exec"]["command"]);
    assert!(cmd[0].ends_with("/actlog"), "{probe}: {cmd:?}");
    cmd[1..].to_vec()
}

/// Whether `key` appears anywhere in `y`.
fn has_key(y: &Yaml, key: &str) -> bool {
    match y {
        Yaml::Hash(h) => h
            .iter()
            .any(|(k, v)| k.as_str() == Some(key) || has_key(v, key)),
        Yaml::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

#[test]
fn every_actlog_command_line_in_the_manifests_is_one_actlog_accepts() {
    let mut checked = 0;
    for (path, doc) in documents() {
        let Some(spec) = pod_spec(&doc) else { continue };
        for (_, c) in actlog_containers(spec) {
            let mut lines = vec![strings(&c["args"])];
            for probe in PROBES {
                if !c[probe].is_badvalue() {
                    lines.push(probe_command(c, probe));
                }
            }
            for line in lines {
                let argv = std::iter::once("actlog".to_owned()).chain(line);
                actlog::cli::Cli::try_parse_from(argv.clone()).unwrap_or_else(|e| {
                    panic!("{}: {:?}: {e}", path.display(), argv.collect::<Vec<_>>())
                });
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked, 6,
        "the sidecar, its three probes, the CronJob and the exporter"
    );
}

#[test]
fn the_sidecar_is_native_with_exec_probes_the_pods_have_a_budget_and_the_cronjob_cannot_pile_up() {
    let docs = documents();
    for (path, doc) in &docs {
        // httpGet probes come from the node, whose loopback is not the pod's.
        assert!(
            !has_key(doc, "httpGet"),
            "{}: an httpGet probe",
            path.display()
        );
        assert!(
            !has_key(doc, "tcpSocket"),
            "{}: a tcpSocket probe",
            path.display()
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            !text.contains("network namespace, so loopback works"),
            "{}",
            path.display()
        );
    }
    let deployment = &docs
        .iter()
        .find(|(_, d)| kind(d) == "Deployment")
        .unwrap()
        .1;
    let spec = pod_spec(deployment).unwrap();
    let sidecars = actlog_containers(spec);
    assert_eq!(sidecars.len(), 1);
    let (list, sidecar) = sidecars[0];
    assert_eq!(list, "initContainers");
    assert_eq!(sidecar["restartPolicy"].as_str(), Some("Always"));
    assert!(strings(&sidecar["args"]).contains(&"serve".to_owned()));
    // The probes name the binary where deploy/Dockerfile puts it.
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile"))
            .unwrap();
    for probe in PROBES {
        let program = strings(&sidecar[probe]["exec"]["command"])[0].clone();
        assert!(
            dockerfile
                .lines()
                .any(|l| l.starts_with("COPY ") && l.ends_with(&format!(" {program}"))),
            "{probe}: {program} is not where deploy/Dockerfile installs actlog"
        );
        let cmd = probe_command(sidecar, probe);
        assert_eq!(cmd[0], "probe", "{probe}");
        assert_eq!(
            cmd.contains(&"--ready".to_owned()),
            probe == "readinessProbe",
            "{probe}: {cmd:?}"
        );
        // The kubelet's own timeout is longer than the probe's, so the probe's one line
        // of why is what the pod's events show.
        assert!(
            sidecar[probe]["timeoutSeconds"].as_i64().unwrap() >= 3,
            "{probe}"
        );
    }
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let budget = &docs
        .iter()
        .find(|(_, d)| kind(d) == "PodDisruptionBudget")
        .expect("a PodDisruptionBudget")
        .1;
    assert_eq!(&budget["spec"]["selector"]["matchLabels"], labels);
    assert!(budget["spec"]["maxUnavailable"].as_i64().is_some());

    let cron = &docs.iter().find(|(_, d)| kind(d) == "CronJob").unwrap().1;
    assert_eq!(cron["spec"]["concurrencyPolicy"].as_str(), Some("Forbid"));
    assert!(cron["spec"]["startingDeadlineSeconds"].as_i64().unwrap() > 0);
    let job = &cron["spec"]["jobTemplate"]["spec"];
    assert!(job["activeDeadlineSeconds"].as_i64().unwrap() > 0);
    assert!(job["ttlSecondsAfterFinished"].as_i64().unwrap() > 0);
}

/// `args` with the pod's paths and address replaced by the test's.
fn localised(args: &[String], dir: &Path, token: &Path, listen: &str) -> Vec<String> {
    args.iter()
        .map(|a| {
            if a.starts_with("--dir=") {
                format!("--dir={}", dir.display())
            } else if a.starts_with("--token-file=") {
                format!("--token-file={}", token.display())
            } else if a.starts_with("--listen=") {
                format!("--listen={listen}")
            } else {
                a.clone()
            }
        })
        .collect()
}

#[test]
fn the_manifests_commands_run_the_sidecar_passes_its_own_probes_and_maintenance_runs() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    let token = t.path().join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let docs = documents();
    let deployment = &docs
        .iter()
        .find(|(_, d)| kind(d) == "Deployment")
        .unwrap()
        .1;
    let (_, sidecar) = actlog_containers(pod_spec(deployment).unwrap())[0];
    let args = localised(&strings(&sidecar["args"]), &logs, &token, "127.0.0.1:0");
    let mut cmd = actlog();
    cmd.args(&args);
    let server = Server::spawn(cmd, &logs);
    let addr = server.url.trim_start_matches("http://").to_owned();
    for probe in PROBES {
        let line = localised(&probe_command(sidecar, probe), &logs, &token, &addr);
        let out = actlog().args(&line).output().unwrap();
        assert!(
            out.status.success(),
            "{probe} {line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cron = &docs.iter().find(|(_, d)| kind(d) == "CronJob").unwrap().1;
    let (_, maintain) = actlog_containers(pod_spec(cron).unwrap())[0];
    let line = localised(&strings(&maintain["args"]), &logs, &token, &addr);
    let out = actlog().args(&line).output().unwrap();
    assert!(
        out.status.success(),
        "{line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
