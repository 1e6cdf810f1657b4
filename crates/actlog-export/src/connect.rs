//! Where the database is, and connecting to it: from a URL (`--url`, `ACTLOG_PG_URL`) or
//! the seed's `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_DB`, `POSTGRES_USER` and
//! `POSTGRES_PASSWORD`. The password goes to the server and nowhere else: every message
//! names host, port, database and user only, and any text from the driver is scrubbed of
//! it.

use crate::error::ExportError;
use postgres::config::Host;
use std::str::FromStr;
use std::time::Duration;

/// The connection settings as given; the caller reads the environment.
#[derive(Clone, Default)]
pub struct Settings {
    /// `--url` or `ACTLOG_PG_URL`.
    pub url: Option<String>,
    /// `POSTGRES_HOST` (a host name, an address, or a directory holding the Unix socket).
    pub host: Option<String>,
    /// `POSTGRES_PORT`.
    pub port: Option<String>,
    /// `POSTGRES_DB`.
    pub db: Option<String>,
    /// `POSTGRES_USER`.
    pub user: Option<String>,
    /// `POSTGRES_PASSWORD`: also used with a URL that has no password of its own.
    pub password: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url.as_ref().map(|_| "…"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How long connecting may take before it is given up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database to connect to.
#[derive(Clone)]
pub struct Database {
    config: postgres::Config,
    /// `host:port/db as user`, for messages.
    endpoint: String,
    secret: Option<String>,
}

impl Database {
    /// Resolves the settings: a URL if given, else the `POSTGRES_*` variables.
    pub fn new(s: &Settings) -> Result<Database, ExportError> {
        let mut config = match &s.url {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(ExportError::BadSetting {
                        what: "--url (ACTLOG_PG_URL)".into(),
                        problem: "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE".into(),
                    });
                }
                postgres::Config::from_str(url).map_err(|e| ExportError::BadSetting {
                    what: "--url (ACTLOG_PG_URL)".into(),
                    problem: scrub(&e.to_string(), url_password(url).as_deref()),
                })?
            }
            None => {
                let Some(host) = s.host.as_deref().filter(|h| !h.is_empty()) else {
                    return Err(ExportError::NoDatabase);
                };
                let mut c = postgres::Config::new();
                c.host(host);
                if let Some(port) = s.port.as_deref().filter(|p| !p.is_empty()) {
                    let port = port.parse::<u16>().map_err(|_| ExportError::BadSetting {
                        what: "POSTGRES_PORT".into(),
                        problem: format!("{port:?} is not a port number (1-65535)"),
                    })?;
                    c.port(port);
                }
                if let Some(db) = s.db.as_deref().filter(|d| !d.is_empty()) {
                    c.dbname(db);
                }
                if let Some(user) = s.user.as_deref().filter(|u| !u.is_empty()) {
                    c.user(user);
                }
                c
            }
        };
        if config.get_password().is_none()
            && let Some(p) = s.password.as_deref().filter(|p| !p.is_empty())
        {
            config.password(p);
        }
        if config.get_ssl_mode() == postgres::config::SslMode::Require {
            return Err(ExportError::BadSetting {
                what: "--url (ACTLOG_PG_URL)".into(),
                problem: "sslmode=require: actlog connects without TLS; reach the database over the cluster network (sslmode=prefer or disable)".into(),
            });
        }
        if config.get_user().is_none() {
            return Err(ExportError::BadSetting {
                what: if s.url.is_some() {
                    "--url (ACTLOG_PG_URL)".into()
                } else {
                    "POSTGRES_USER".into()
                },
                problem: "no user name given".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("actlog export");
        }
        // A server that vanishes without closing the connection is noticed.
        config.keepalives_idle(Duration::from_secs(30));
        let secret = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let endpoint = endpoint(&config);
        Ok(Database {
            config,
            endpoint,
            secret,
        })
    }

    /// `host:port/database as user`, safe to print.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The database name (the user's name when none is given, as the server takes it).
    pub fn name(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_owned()
    }

    /// Connects, or says in one line why not.
    pub fn connect(&self) -> Result<postgres::Client, ExportError> {
        self.config
            .connect(postgres::NoTls)
            .map_err(|e| self.connect_error(&e))
    }

    /// `text` with the password, if any, replaced.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.secret.as_deref())
    }

    fn connect_error(&self, e: &postgres::Error) -> ExportError {
        let endpoint = self.endpoint.clone();
        if let Some(db) = e.as_db_error() {
            let message = self.scrub(db.message());
            let code = db.code().code();
            return if code.starts_with("28") {
                ExportError::Auth { endpoint, message }
            } else if code == "3D000" {
                ExportError::Connect {
                    endpoint,
                    problem: message,
                }
            } else if code == "42501" {
                ExportError::Permission {
                    endpoint,
                    message,
                    needs: "the role needs CONNECT on the database",
                }
            } else {
                ExportError::Connect {
                    endpoint,
                    problem: format!("{message} (SQLSTATE {code})"),
                }
            };
        }
        ExportError::Connect {
            endpoint,
            problem: self.scrub(&error_text(e)),
        }
    }
}

/// The error and its causes on one line.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text.replace(['\n', '\r'], " ")
}

fn endpoint(c: &postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or("?");
    let db = c.get_dbname().unwrap_or(user);
    format!("{host}:{port} (database {db}, user {user})")
}

/// The password a URL carries, decoded or not, for scrubbing a parser's message.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split('@').next().filter(|_| rest.contains('@'))?;
    auth.split_once(':').map(|(_, p)| p.to_owned())
}

fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => text.replace(s, "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_and_debug_never_show_the_password() {
        let s = Settings {
            url: Some("postgres://bob:s3cr3t-pw@db.example:6543/app".into()),
            ..Settings::default()
        };
        let d = Database::new(&s).unwrap();
        assert_eq!(d.endpoint(), "db.example:6543 (database app, user bob)");
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn the_seed_variables_name_a_database() {
        let s = Settings {
            host: Some("postgres-service".into()),
            port: Some("5432".into()),
            db: Some("ga4_chat".into()),
            user: Some("u".into()),
            password: Some("pw".into()),
            ..Settings::default()
        };
        let d = Database::new(&s).unwrap();
        assert_eq!(
            d.endpoint(),
            "postgres-service:5432 (database ga4_chat, user u)"
        );
        let bad = Settings {
            port: Some("54x".into()),
            ..s
        };
        assert!(matches!(
            Database::new(&bad),
            Err(ExportError::BadSetting { .. })
        ));
        assert!(matches!(
            Database::new(&Settings::default()),
            Err(ExportError::NoDatabase)
        ));
    }
}
