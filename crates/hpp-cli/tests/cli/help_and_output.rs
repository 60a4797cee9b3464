//! Help, completions, man page, the demo, and output as a terminal or a pipe sees it.

use super::*;

#[test]
fn demo_runs_the_whole_story() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Session created",
        "WAITING",
        "EMAIL_LIMIT_EXCEEDED",
        "invalid_input",
        "Final status: COMPLETED",
        "callback  COMPLETED",
        "DISABLED",
    ] {
        assert!(stdout.contains(expected), "missing {expected}:\n{stdout}");
    }
    assert!(!stdout.contains("jane.doe@example.com"), "addresses are masked:\n{stdout}");
}

#[test]
fn no_user_input_makes_the_cli_panic() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    // Intervals over 30 s once panicked (a clamp with min > max); huge ones overflowed.
    let out = sandbox.run(&["--json", "--timeout", "0.3", "session", "watch", &id, "--interval", "31"]);
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    for (flag, value) in [("--interval", "1e12"), ("--interval", "-1"), ("--interval", "NaN"), ("--timeout", "1e300")] {
        let out = sandbox.run(&["--json", "session", "watch", &id, flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(&out.stderr)["error"]["kind"], "usage");
    }
    let out = sandbox.run(&["--json", "sandbox", "--callback-timeout", "1e300"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let long_url = format!("https://api.example.com/{}", "p".repeat(70_000));
    let out = sandbox.run(&["--json", "--base-url", &long_url, "session", "get", "s1"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn help_never_prints_the_base_url_from_the_environment() {
    let out = Command::new(BIN)
        .args(["session", "get", "--help"])
        .env("KUSTOM_HPP_BASE_URL", "https://admin:hunter2-password@sandbox.internal")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("KUSTOM_HPP_BASE_URL"), "{help}");
    assert!(!help.contains("hunter2") && !help.contains("admin:"), "{help}");
}

/// Runs `args`, reads one line of stdout, closes it, and returns the exit status and stderr.
fn close_stdout_after_one_line(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    drop(reader);
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_pipe_ends_the_demo_quietly() {
    let (code, stderr) = close_stdout_after_one_line(&["demo"], &[]);
    assert_eq!(code, Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_answers_and_json_usage_errors_keep_their_detail() {
    let help = Command::new(BIN).arg("--help").env("COLUMNS", "60").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for expected in
        ["KUSTOM_API_KEY", "KUSTOM_USERNAME and KUSTOM_PASSWORD", "Exit codes: 0 success", "141 stdout was closed"]
    {
        assert!(help.contains(expected), "{expected} missing:\n{help}");
    }
    assert!(help.lines().all(|l| l.chars().count() <= 60), "wrapped to the terminal:\n{help}");
    for (command, described) in [
        (&["distribute", "email", "--help"][..], "The consumer's e-mail address"),
        (&["distribute", "token", "--help"], "The access id the device showed"),
        (&["distribute", "sms", "--help"], "ISO 3166 alpha-2"),
        (&["session", "get", "--help"], "The session: its id"),
    ] {
        let out = String::from_utf8(Command::new(BIN).args(command).output().unwrap().stdout).unwrap();
        assert!(out.contains("The session: its id") && out.contains(described), "{command:?}:\n{out}");
    }
    let out = Command::new(BIN).args(["--json", "session", "create"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = json(&out.stderr)["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("--payment-session-url"), "{message}");
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let bash = Command::new(BIN).args(["completions", "bash"]).output().unwrap();
    assert_eq!(bash.status.code(), Some(0));
    let bash = String::from_utf8(bash.stdout).unwrap();
    for word in
        ["kustom-hpp", "session", "distribute", "callbacks", "--forward-to", "--send-credentials-over-plain-http"]
    {
        assert!(bash.contains(word), "{word} missing from the bash completions");
    }
    let man = String::from_utf8(Command::new(BIN).arg("man").output().unwrap().stdout).unwrap();
    assert!(man.contains(".TH kustom-hpp 1") && man.contains("KUSTOM_API_KEY"), "{man}");
    assert_eq!(Command::new(BIN).args(["completions", "tcsh"]).output().unwrap().status.code(), Some(2));
}

/// Every change to the help is a reviewed diff.
#[test]
fn help_snapshots() {
    for (name, args) in [
        ("top", &["--help"][..]),
        ("session_watch", &["session", "watch", "--help"]),
        ("callbacks_listen", &["callbacks", "listen", "--help"]),
        ("sandbox", &["sandbox", "--help"]),
        ("distribute_sms", &["distribute", "sms", "--help"]),
        ("session_create", &["session", "create", "--help"]),
        ("tracking_list", &["tracking", "list", "--help"]),
    ] {
        let out =
            Command::new(BIN).args(args).env("COLUMNS", "100").env_remove("KUSTOM_HPP_BASE_URL").output().unwrap();
        insta::assert_snapshot!(format!("help_{name}"), String::from_utf8(out.stdout).unwrap());
    }
}

#[test]
fn json_is_indented_on_a_terminal_and_one_line_when_piped() {
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let piped = sandbox.run(&["--json", "session", "get", &id]);
    assert_eq!(String::from_utf8(piped.stdout).unwrap().lines().count(), 1);
    // `script` gives the command a terminal (util-linux, on every Debian machine).
    let command = format!("{BIN} --json session get {id}");
    let Ok(terminal) = sandbox.command("script").args(["-q", "-e", "-c", &command, "/dev/null"]).output() else {
        assert!(std::env::var_os("CI").is_none(), "`script` (util-linux) is missing");
        return;
    };
    let shown = String::from_utf8_lossy(&terminal.stdout).replace('\r', "");
    assert!(shown.starts_with("{\n  \""), "{shown}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap()["session_id"], id.as_str());
}

#[test]
fn the_demo_is_for_people_and_the_listener_says_what_to_register() {
    let out = Command::new(BIN).args(["--json", "demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(json(&out.stderr)["error"]["message"].as_str().unwrap().contains("takes --json"));
    let (mut listener, ready, _lines) = spawn_listener("right-secret-123", &[]);
    assert!(ready["status_update"].as_str().unwrap().ends_with("/callbacks?secret=<your secret>"), "{ready}");
    assert!(ready["url"].as_str().unwrap().ends_with("/callbacks"), "{ready}");
    let _ = listener.kill();
    let _ = listener.wait();
}

/// A write error other than a closed pipe (a full disk) is said, with its own exit code (7), in
/// JSON with `--json`; a closed pipe stays quiet (141).
#[test]
fn a_failed_write_is_said_with_its_own_exit_code() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    for json_flag in [false, true] {
        let mut args = vec!["session", "get", id.as_str()];
        if json_flag {
            args.insert(0, "--json");
        }
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = sandbox.command(BIN).args(&args).stdout(full).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write to standard output"), "{args:?}: {stderr}");
        if json_flag {
            let error = json(stderr.lines().last().unwrap().as_bytes());
            assert_eq!(error["error"]["kind"], "output", "{stderr}");
        }
    }
}

/// The bash completion script, run in bash with simulated command lines: it completes past the
/// first word (subcommands of subcommands, and their flags), where clap_complete's script for a
/// hyphenated binary name recorded states under one name and looked them up under another.
#[test]
fn bash_completes_past_the_first_word() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: no bash");
        return;
    }
    let script = Command::new(BIN).args(["completions", "bash"]).output().unwrap().stdout;
    let dir = std::env::temp_dir().join(format!("hpp-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kustom-hpp.bash");
    std::fs::write(&path, script).unwrap();
    let complete = |line: &[&str]| {
        let driver = format!(
            "source {}\nfn=$(complete -p kustom-hpp | sed 's/.*-F \\([^ ]*\\).*/\\1/')\n\
             COMP_WORDS=({})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
             COMP_POINT=${{#COMP_LINE}}\n\"$fn\" kustom-hpp \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display(),
            line.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ")
        );
        let out = Command::new("bash").arg("-c").arg(driver).output().unwrap();
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(complete(&["kustom-hpp", "se"]), ["session"]);
    assert_eq!(complete(&["kustom-hpp", "session", "cr"]), ["create"]);
    assert_eq!(complete(&["kustom-hpp", "session", "create", "--pur"]), ["--purchase-type"]);
    assert_eq!(complete(&["kustom-hpp", "distribute", "em"]), ["email"]);
    assert_eq!(complete(&["kustom-hpp", "callbacks", "listen", "--forw"]), ["--forward-to"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `man --dir DIR` writes a page for every command, and every page another one refers to exists.
#[test]
fn man_writes_a_page_for_every_command() {
    let dir = std::env::temp_dir().join(format!("hpp-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN).args(["man", "--dir", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    for expected in
        ["kustom-hpp.1", "kustom-hpp-session.1", "kustom-hpp-session-create.1", "kustom-hpp-callbacks-listen.1"]
    {
        assert!(pages.iter().any(|p| p == expected), "{expected} not in {pages:?}");
    }
    for page in &pages {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        // Roff writes a reference as `\fBkustom\-hpp\-session\fR(1)`.
        for reference in text.split("\\fB").skip(1).filter_map(|r| r.split_once("\\fR(1)").map(|(name, _)| name)) {
            let file = format!("{}.1", reference.replace("\\-", "-"));
            if file.starts_with("kustom-hpp") {
                assert!(pages.contains(&file), "{page} refers to {file}, which was not written");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each command's help lists the global flags in their own section, and shows examples.
#[test]
fn help_has_global_options_and_examples() {
    for command in [&["session", "create"][..], &["session", "get"], &["distribute", "email"], &["session", "watch"]] {
        let out = Command::new(BIN).args(command).arg("--help").env("COLUMNS", "100").output().unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Global options:"), "{command:?}:\n{help}");
        assert!(help.contains("Examples:"), "{command:?}:\n{help}");
        let globals = help.split("Global options:").nth(1).unwrap();
        assert!(globals.contains("--base-url") && globals.contains("--json"), "{command:?}:\n{help}");
    }
}

/// Color only on a terminal, and not with NO_COLOR or TERM=dumb.
#[test]
fn no_color_and_a_dumb_terminal_get_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` for a terminal");
        return;
    }
    let sandbox = SandboxProcess::start(&[]);
    let id = create(&sandbox)["session_id"].as_str().unwrap().to_owned();
    let shown = |env: &[(&str, &str)]| {
        let mut command = sandbox.command("script");
        command
            .args(["-qec", &format!("{BIN} session get {id}"), "/dev/null"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        String::from_utf8_lossy(&command.output().unwrap().stdout).into_owned()
    };
    assert!(shown(&[]).contains('\x1b'), "a terminal gets color");
    assert!(!shown(&[("NO_COLOR", "1")]).contains('\x1b'), "NO_COLOR");
    assert!(!shown(&[("TERM", "dumb")]).contains('\x1b'), "TERM=dumb");
}
