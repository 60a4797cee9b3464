//! `kustom-hpp tracking status|list|retry|forget`: an operator's view of the payment tracker's
//! PostgreSQL store (`hpp_postgres::PgStore`'s operator calls), in words or `--json`. The
//! store's URL (with its password) is never shown: errors name the flag, not the value.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use hpp_core::__private::time::format_rfc3339;
use hpp_core::tracking::TrackingPolicy;
use hpp_postgres::{Filter, PgStore, SessionSummary};
use serde_json::json;

use crate::cli::{StoreArgs, TRACKING_STORE_ENV, TrackingCommand};
use crate::output::{Failure, Output, say};

/// Runs one `tracking` command.
pub(crate) async fn tracking(command: TrackingCommand, output: &Output) -> ExitCode {
    match run(command, output).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => output.failure(&failure),
    }
}

async fn run(command: TrackingCommand, output: &Output) -> Result<(), Failure> {
    let now = SystemTime::now();
    match command {
        TrackingCommand::Status { store } => {
            let overview = open(&store).await?.overview(now).await.map_err(store_failed)?;
            let counts = overview.counts;
            if output.json {
                output.print_json(&json!({
                    "waiting": counts.waiting,
                    "hand_off_due": counts.hand_off_due,
                    "parked": counts.parked,
                    "handed_off": counts.handed_off,
                    "due": counts.due,
                    "oldest_pending_since": counts.oldest_pending_since.map(format_rfc3339),
                    "parked_sessions": overview.parked_sessions.iter().map(summary_json).collect::<Vec<_>>(),
                }));
                return Ok(());
            }
            output.heading("tracked sessions");
            let age = counts.oldest_pending_since.map(|since| {
                let age = now.duration_since(since).unwrap_or_default();
                format!("{} ({} ago)", format_rfc3339(since), human(age))
            });
            output.fields(&[
                ("waiting", Some(counts.waiting.to_string())),
                ("hand-off due", Some(counts.hand_off_due.to_string())),
                ("parked", Some(counts.parked.to_string())),
                ("handed off", Some(counts.handed_off.to_string())),
                ("due now", Some(counts.due.to_string())),
                ("oldest pending", age.or_else(|| Some("none".to_owned()))),
            ]);
            if !overview.parked_sessions.is_empty() {
                output.heading("parked hand-offs (retry: kustom-hpp tracking retry REFERENCE)");
                table(&overview.parked_sessions);
            }
            Ok(())
        }
        TrackingCommand::List { store, parked, pending_older_than, order, reference, limit } => {
            let mut filter = Filter::default();
            filter.parked = parked;
            filter.pending_since_before = pending_older_than.map(|secs| now - Duration::from_secs(secs));
            filter.order_key = order;
            filter.reference = reference;
            filter.limit = limit;
            let found = open(&store).await?.list(&filter).await.map_err(store_failed)?;
            if output.json {
                output.print_json(&json!({ "sessions": found.iter().map(summary_json).collect::<Vec<_>>() }));
            } else if found.is_empty() {
                output.note("no tracked session matches");
            } else {
                table(&found);
            }
            Ok(())
        }
        TrackingCommand::Retry { store, reference, all_parked: _ } => {
            let retried = open(&store).await?.retry_parked(reference.as_deref(), now).await.map_err(store_failed)?;
            if retried == 0 {
                return Err(Failure::no_match(match &reference {
                    Some(_) => "no parked session has this reference (`tracking list --parked` lists them)",
                    None => "no session is parked",
                }));
            }
            done(output, "retried", retried, "marked due: the app's next poller hands them off");
            Ok(())
        }
        TrackingCommand::Forget { store, reference, yes } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Failure::usage(
                        "forgetting a session cannot be undone: pass --yes to do it from a script",
                    ));
                }
                crate::api::confirm(
                    &format!("Forget {reference}? It will never be read nor handed off again."),
                    "not confirmed; nothing was changed (--yes skips the question)",
                )?;
            }
            let forgotten = open(&store).await?.forget(&reference).await.map_err(store_failed)?;
            if forgotten == 0 {
                return Err(Failure::no_match("no tracked session has this reference"));
            }
            done(output, "forgotten", forgotten, "never read nor handed off again");
            Ok(())
        }
    }
}

/// The store `args` name (never migrated: an operator's command changes no schema).
async fn open(args: &StoreArgs) -> Result<PgStore, Failure> {
    let opened = match &args.schema {
        Some(schema) => PgStore::connect_in_schema(&args.store, schema, TrackingPolicy::default()).await,
        None => PgStore::connect(&args.store, TrackingPolicy::default()).await,
    };
    // The URL may hold a password: the message names the flag, never the value.
    opened.map_err(|e| Failure::usage(&format!("--store / {TRACKING_STORE_ENV}: {e}")))
}

fn store_failed(e: hpp_core::tracking::StoreError) -> Failure {
    Failure::usage(&format!("the tracking store: {e} (is it the tracker's database, migrated, and --schema right?)"))
}

fn done(output: &Output, what: &str, count: u64, then: &str) {
    if output.json {
        output.print_json(&json!({ what: count }));
    } else {
        say!("{what}: {count} ({then})");
    }
}

fn summary_json(summary: &SessionSummary) -> serde_json::Value {
    json!({
        "reference": summary.reference,
        "session_id": summary.session_id,
        "order_key": summary.order_key,
        "standing": summary.standing.as_str(),
        "final_status": summary.final_status.map(|s| s.as_str()),
        "failures": summary.failures,
        "last_error_kind": summary.last_error_kind,
        "tracked_at": format_rfc3339(summary.tracked_at),
        "next_due_at": summary.next_due_at.map(format_rfc3339),
    })
}

/// One line per session, aligned.
fn table(sessions: &[SessionSummary]) {
    let rows: Vec<[String; 7]> = sessions
        .iter()
        .map(|s| {
            [
                s.reference.clone(),
                s.standing.as_str().to_owned(),
                s.final_status.map_or_else(|| "-".to_owned(), |f| f.as_str().to_owned()),
                s.failures.to_string(),
                s.last_error_kind.clone().unwrap_or_else(|| "-".to_owned()),
                s.order_key.clone().unwrap_or_else(|| "-".to_owned()),
                s.session_id.clone(),
            ]
        })
        .collect();
    let header = ["REFERENCE", "STANDING", "FINAL", "FAILURES", "LAST ERROR", "ORDER", "SESSION"].map(str::to_owned);
    let mut widths = [0; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        say!("{}", crate::output::printable(cells.join("  ").trim_end()));
    }
}

/// `3h 20m`, `2d 4h`, `45s`.
fn human(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}
