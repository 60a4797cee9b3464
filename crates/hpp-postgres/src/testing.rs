//! [`TempPostgres`]: a throwaway PostgreSQL server for tests, from the binaries installed on the
//! machine (Debian's `postgresql` package, or `HPP_PG_BIN`): a fresh cluster in a temporary
//! directory, on a free loopback port, without `fsync` (commits survive a crash of the server,
//! not of the machine), removed when dropped. As root it runs the
//! server as the `postgres` user (the server refuses root).
//!
//! ```no_run
//! let Some(pg) = hpp_postgres::testing::TempPostgres::start_or_skip() else { return };
//! let url = pg.url(); // postgres://postgres@127.0.0.1:PORT/postgres
//! ```

use std::io::{self, BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long a fresh server may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running throwaway server. Stopped and deleted on drop.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    server: Child,
    port: u16,
}

impl TempPostgres {
    /// Starts one; `None` when PostgreSQL is not installed, after printing `SKIPPED` (under
    /// `CI=true` that is a failure instead: CI installs it). Panics when it is installed but
    /// cannot start (with the reason).
    pub fn start_or_skip() -> Option<Self> {
        let Some(bin) = find_bin() else {
            let message = "PostgreSQL is not installed (no initdb in HPP_PG_BIN, /usr/lib/postgresql/*/bin or PATH)";
            assert!(std::env::var_os("CI").is_none_or(|v| v != "true"), "{message}; CI installs it");
            eprintln!("SKIPPED: {message}");
            return None;
        };
        Some(Self::start_with(&bin).unwrap_or_else(|e| panic!("a throwaway PostgreSQL did not start: {e}")))
    }

    /// Starts one with the binaries in `bin` (`initdb`, `postgres`, `pg_ctl`).
    pub fn start_with(bin: &Path) -> io::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "hpp-postgres-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        // Root only exists on Unix; elsewhere the server runs as the current user.
        #[cfg(unix)]
        if as_postgres {
            let (uid, gid) = (id("-u")?, id("-g")?);
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let data = dir.join("data");
        let mut initdb = command(bin, "initdb", as_postgres, &dir);
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-N", "-E", "UTF8", "--locale=C"]);
        run(initdb)?;
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            match spawn_server(bin, as_postgres, &dir, port)? {
                Ok(server) => return Ok(Self { dir, bin: bin.to_owned(), as_postgres, server, port }),
                Err(log) => last_error = log,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(io::Error::other(last_error))
    }

    /// The connection URL: `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Turns TLS on (`ssl = on`, with the PEM certificate chain and private key given) and
    /// restarts the server: for tests of `sslmode`. Plain-text connections are still accepted.
    pub fn enable_tls(&mut self, certificate_pem: &str, key_pem: &str) -> io::Result<()> {
        let data = self.dir.join("data");
        for (name, contents) in [("server.crt", certificate_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, contents)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                if self.as_postgres {
                    std::os::unix::fs::chown(&path, Some(id("-u")?), Some(id("-g")?))?;
                }
            }
        }
        let conf = data.join("postgresql.conf");
        let mut settings = std::fs::read_to_string(&conf)?;
        settings.push_str("\nssl = on\n");
        std::fs::write(&conf, settings)?;
        self.restart()
    }

    /// Stops the server at once (as a crash would, `-m immediate`) and starts it again on the
    /// same data and port: for tests of what survives a restart.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.server = spawn_server(&self.bin, self.as_postgres, &self.dir, self.port)?.map_err(io::Error::other)?;
        Ok(())
    }

    fn stop(&mut self) {
        let mut stop = command(&self.bin, "pg_ctl", self.as_postgres, &self.dir);
        stop.arg("-D").arg(self.dir.join("data")).args(["stop", "-m", "immediate", "-w"]);
        stop.stdout(Stdio::null()).stderr(Stdio::null());
        if !stop.status().is_ok_and(|s| s.success()) {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the server on the cluster in `dir` and waits until its log says it is ready; the
/// inner `Err` is the log when it stopped first (a port taken, say).
fn spawn_server(bin: &Path, as_postgres: bool, dir: &Path, port: u16) -> io::Result<Result<Child, String>> {
    let mut server = command(bin, "postgres", as_postgres, dir);
    server.arg("-D").arg(dir.join("data")).arg("-k").arg(dir).args(["-p", &port.to_string()]);
    for setting in [
        "listen_addresses=127.0.0.1",
        // Safe against a crash of the server (what `restart` does), not of the machine.
        "fsync=off",
        "full_page_writes=off",
        "max_connections=200",
    ] {
        server.args(["-c", setting]);
    }
    server.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = server.spawn()?;
    let stderr = child.stderr.take().expect("piped");
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Reads the server's log to its end (so the pipe never fills), telling when it is ready.
        let mut ready_tx = Some(ready_tx);
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("ready to accept connections") {
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(Ok(()));
                }
            } else if ready_tx.is_some() {
                log.push(line);
            }
        }
        if let Some(tx) = ready_tx {
            let _ = tx.send(Err(log.join("\n")));
        }
    });
    match ready_rx.recv_timeout(READY_WITHIN) {
        Ok(Ok(())) => Ok(Ok(child)),
        Ok(Err(log)) => {
            let _ = child.wait();
            Ok(Err(log))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(Err(format!("not ready within {READY_WITHIN:?}")))
        }
    }
}

/// The directory holding `initdb`, `postgres` and `pg_ctl`.
fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("HPP_PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn command(bin: &Path, program: &str, as_postgres: bool, dir: &Path) -> Command {
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    };
    command.current_dir(dir);
    command
}

fn run(mut command: Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr))))
}

fn is_root() -> bool {
    cfg!(unix) && id_of(&["-u"]).is_ok_and(|uid| uid == 0)
}

fn id(flag: &str) -> io::Result<u32> {
    id_of(&[flag, "postgres"])
}

fn id_of(args: &[&str]) -> io::Result<u32> {
    let output = Command::new("id").args(args).output()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().map_err(io::Error::other)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes `count` sessions like `state` straight into the store's table (one statement, for
/// scale tests and benchmarks: no step runs), named `{prefix}{n}` for `n` in `0..count`,
/// tracked and due at `due_at`. Returns the rows written.
pub async fn insert_sessions(
    client: &tokio_postgres::Client,
    prefix: &str,
    count: i64,
    state: &hpp_core::tracking::TrackedSession,
    due_at: std::time::SystemTime,
) -> Result<u64, tokio_postgres::Error> {
    let template = tokio_postgres::types::Json(state);
    let priority = i16::from(state.read_priority());
    let final_status = state.final_status().map(hpp_core::tracking::FinalStatus::as_str);
    client
        .execute(
            "INSERT INTO hpp_tracked_session \
               (session_id, state, final_status, next_due_at, read_priority, created_at, updated_at) \
             SELECT $1 || n, jsonb_set($2::jsonb, '{session_id}', to_jsonb($1 || n)), $3, $4, $5, $4, $4 \
             FROM generate_series(0, $6::bigint - 1) AS n",
            &[&prefix, &template, &final_status, &due_at, &priority, &count],
        )
        .await
}
