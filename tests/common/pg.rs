//! A throwaway PostgreSQL cluster for the export tests: `initdb` in a temporary
//! directory, the server on a Unix socket there (as user `postgres` through `runuser`
//! when the tests run as root, since the server refuses root), one per test binary,
//! stopped when the binary exits (passed or failed) or the guard is dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Password of the `exporter` role every cluster has (a login with scram-sha-256).
pub const EXPORTER_PASSWORD: &str = "pw-Xq7-never-printed";

/// A running cluster.
pub struct Cluster {
    bin: PathBuf,
    /// The temporary directory: data in `data`, the socket beside it.
    root: PathBuf,
    as_postgres: bool,
}

static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(Some(c)) = SHARED.get() {
        c.stop();
    }
}

/// The binary's cluster, started on first use; `None` (with the reason printed) where no
/// PostgreSQL server binaries are installed.
pub fn shared() -> Option<&'static Cluster> {
    SHARED
        .get_or_init(|| {
            let c = Cluster::start()?;
            // SAFETY: registers a plain function, run once at exit.
            unsafe { libc::atexit(stop_shared) };
            Some(c)
        })
        .as_ref()
}

/// Where `initdb` and `pg_ctl` are: PATH, else Debian's /usr/lib/postgresql/*/bin.
fn find_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter().find(|d| {
        d.join("initdb").is_file() && d.join("pg_ctl").is_file() && d.join("postgres").is_file()
    })
}

impl Cluster {
    /// Creates and starts a cluster, or prints why it cannot.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = find_bin() else {
            eprintln!(
                "SKIPPED: no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; .ci/run installs Debian's postgresql"
            );
            return None;
        };
        // SAFETY: geteuid(2) cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let root = tempfile::Builder::new()
            .prefix("actlog-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let c = Cluster {
            bin,
            root,
            as_postgres,
        };
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&c.root)
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown of the cluster directory to postgres failed");
        }
        let pwfile = c.root.join("pw");
        std::fs::write(&pwfile, "superpw\n").expect("password file");
        if as_postgres {
            Command::new("chown")
                .args(["postgres"])
                .arg(&pwfile)
                .status()
                .expect("chown");
        }
        let out = c
            .server_command("initdb")
            .arg("-D")
            .arg(c.data())
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The superuser over the socket without a password (the tests' own psql); every
        // other role with its password, so a wrong one is refused.
        std::fs::write(
            c.data().join("pg_hba.conf"),
            "local all postgres trust\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("pg_hba.conf");
        let out = c
            .server_command("pg_ctl")
            .arg("-D")
            .arg(c.data())
            .arg("-l")
            .arg(c.root.join("log"))
            .arg("-o")
            .arg(format!(
                "-k {} -c listen_addresses='' -c fsync=off -c max_connections=60",
                c.root.display()
            ))
            .args(["-w", "start"])
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(c.root.join("log")).unwrap_or_default()
        );
        c.psql_ok(
            "postgres",
            &format!("CREATE ROLE exporter LOGIN PASSWORD '{EXPORTER_PASSWORD}'"),
        );
        Some(c)
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    fn server_command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    /// A new database owned by the superuser, in which `exporter` may create tables.
    pub fn create_db(&self, name: &str) {
        self.psql_ok("postgres", &format!("CREATE DATABASE {name}"));
        self.psql_ok(name, "GRANT ALL ON SCHEMA public TO exporter");
        self.psql_ok(
            "postgres",
            &format!("GRANT ALL ON DATABASE {name} TO exporter"),
        );
    }

    /// The URL of `db` for `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        let socket: String = self.root.display().to_string().replace('/', "%2F");
        format!("postgres://{user}:{password}@{socket}/{db}")
    }

    /// The URL of `db` for the `exporter` role.
    pub fn url(&self, db: &str) -> String {
        self.url_as("exporter", EXPORTER_PASSWORD, db)
    }

    /// psql as the superuser on `db`: runs `sql`, unaligned, tuples only.
    pub fn psql(&self, db: &str, sql: &str) -> Output {
        Command::new(if self.bin.join("psql").exists() {
            self.bin.join("psql")
        } else {
            "psql".into()
        })
        .arg("-h")
        .arg(&self.root)
        .args([
            "-U",
            "postgres",
            "-d",
            db,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .env("PGCLIENTENCODING", "UTF8")
        .output()
        .expect("run psql")
    }

    /// [`Cluster::psql`], which must succeed; its output without the last newline.
    pub fn psql_ok(&self, db: &str, sql: &str) -> String {
        let out = self.psql(db, sql);
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("psql prints UTF-8")
            .trim_end_matches('\n')
            .to_owned()
    }

    /// Stops the server and removes its files.
    pub fn stop(&self) {
        let _ = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
