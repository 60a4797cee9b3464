//! Behaviour at the edges, each stated once: the comparisons, bounds and masks that a changed
//! operator or constant would quietly break (found unpinned by mutation testing).

use std::time::{Duration, SystemTime};

use hpp_core::__private::constant_time_eq;
use hpp_core::__private::redact::{mask_email, mask_phone};
use hpp_core::callback::CallbackSecret;
use hpp_core::retry::{GiveUpReason, RetryPolicy};
use hpp_core::{Error, Operation, ReadSession, TransportError};

fn unavailable(retry_after: &str) -> Error {
    let response = http::Response::builder().status(503).header("retry-after", retry_after).body(Vec::new()).unwrap();
    ReadSession::new("s").parse(response).unwrap_err()
}

fn decide(policy: &RetryPolicy, attempt: u32, elapsed: Duration, error: &Error) -> Result<Duration, GiveUpReason> {
    policy.decide(true, attempt, elapsed, error, 1.0, SystemTime::UNIX_EPOCH)
}

#[test]
fn differences_that_cancel_out_still_differ() {
    // Each pair differs in bits that XOR to the same value, so an XOR-accumulating comparison
    // would call them equal.
    assert!(!constant_time_eq(b"\x01\x02", b"\x00\x03"));
    assert!(!constant_time_eq(b"01", b"10"));
    assert!(constant_time_eq(b"same", b"same"));
    assert!(!constant_time_eq(b"same", b"same!"));
    let secret = CallbackSecret::new("0123456789abcdef").unwrap();
    // '0'->'1' and '2'->'3' flip the same bit: differences that cancel.
    assert!(!secret.verify_uri("/cb?secret=1133456789abcdef"));
    assert!(secret.verify_uri("/cb?secret=0123456789abcdef"));
}

#[test]
fn a_retry_after_longer_than_the_policy_waits_ends_the_retries() {
    let default = RetryPolicy::default();
    // 20 s: over the 10 s Retry-After limit, under the 30 s time budget; only the limit stops it.
    assert_eq!(decide(&default, 1, Duration::ZERO, &unavailable("20")), Err(GiveUpReason::TimeBudget));
    assert_eq!(decide(&default, 1, Duration::ZERO, &unavailable("10")), Ok(Duration::from_secs(10)));
    // A custom limit is the one used.
    let patient = RetryPolicy::default().with_max_retry_after(Duration::from_secs(25));
    assert_eq!(decide(&patient, 1, Duration::ZERO, &unavailable("20")), Ok(Duration::from_secs(20)));
}

#[test]
fn a_custom_time_budget_and_attempt_limit_are_the_ones_used() {
    let timeout: Error = TransportError::timeout("t").into();
    let hurried = RetryPolicy::default().with_max_elapsed(Duration::from_secs(2));
    // Backoff at attempt 1 is 500 ms (jitter 1.0): 1.6 s + 0.5 s passes a 2 s budget, not 30 s.
    assert_eq!(decide(&hurried, 1, Duration::from_millis(1600), &timeout), Err(GiveUpReason::TimeBudget));
    assert_eq!(
        decide(&RetryPolicy::default(), 1, Duration::from_millis(1600), &timeout),
        Ok(Duration::from_millis(500))
    );
    assert_eq!(RetryPolicy::default().max_attempts(), 3);
    assert_eq!(RetryPolicy::default().with_max_attempts(7).max_attempts(), 7);
    assert_eq!(RetryPolicy::none().max_attempts(), 1);
    let seven = RetryPolicy::default().with_max_attempts(7);
    assert!(decide(&seven, 6, Duration::ZERO, &timeout).is_ok());
    assert_eq!(decide(&seven, 7, Duration::ZERO, &timeout), Err(GiveUpReason::Attempts));
}

#[test]
fn the_time_budget_allows_a_wait_that_ends_exactly_at_it() {
    let timeout: Error = TransportError::timeout("t").into();
    let policy = RetryPolicy::default();
    // 29.5 s elapsed + 0.5 s backoff = exactly 30 s: still within the budget.
    assert_eq!(decide(&policy, 1, Duration::from_millis(29_500), &timeout), Ok(Duration::from_millis(500)));
    assert_eq!(decide(&policy, 1, Duration::from_millis(29_501), &timeout), Err(GiveUpReason::TimeBudget));
}

#[test]
fn session_ids_up_to_256_characters_are_accepted() {
    let config = crate::playground();
    let build = |id: &str| ReadSession::new(id).build(&config);
    assert!(build(&"a".repeat(256)).is_ok());
    assert!(build(&"a".repeat(257)).is_err());
    assert!(build("a").is_ok());
    assert!(build("9cbc9884-1fdb").unwrap().uri().path().ends_with("/9cbc9884-1fdb"));
}

#[test]
fn e_mail_masks_keep_only_what_is_safe() {
    assert_eq!(mask_email("jane@example.abcdefghij"), "j***@e***.abcdefghij", "a 10-letter TLD is kept");
    assert_eq!(mask_email("jane@example.abcdefghijk"), "j***@e***", "an 11-letter one is not");
    assert_eq!(mask_email("jane@example."), "j***@e***", "an empty TLD is not shown");
    assert_eq!(mask_email("jane@example.c0m"), "j***@e***", "a TLD with a digit is not shown");
    assert_eq!(mask_email("_jane@-example.com"), "***@***.com", "only a letter or digit leads");
    assert_eq!(mask_email("@example.com"), "***@e***.com");
    assert_eq!(mask_email("jane@localhost"), "j***@l***");
    assert_eq!(mask_email("a@b@c.com"), "a***@c***.com", "the last @ splits");
}

#[test]
fn phone_masks_need_six_digits() {
    assert_eq!(mask_phone("123456"), "****56");
    assert_eq!(mask_phone("12345"), "<5 chars masked>");
    assert_eq!(mask_phone("+46 (0)70-1"), "****01");
}

#[test]
fn optional_secrets_show_whether_they_are_there_and_nothing_else() {
    let mut urls = hpp_core::MerchantUrls::default();
    let none = format!("{urls:?}");
    assert!(none.contains("status_update: None"), "{none}");
    urls.status_update = Some("https://shop.example/cb?secret=7d1cbc3b".into());
    let some = format!("{urls:?}");
    assert!(some.contains("status_update: Some(<redacted>)"), "{some}");
    let mut contact = hpp_core::__private::ContactInformation::default();
    assert!(format!("{contact:?}").contains("email: None"));
    contact.email = Some("jane@example.com".into());
    assert!(format!("{contact:?}").contains(r#"email: Some("j***@e***.com")"#));
}

#[test]
fn a_custom_backoff_is_the_one_used() {
    let timeout: Error = TransportError::timeout("t").into();
    let quick = RetryPolicy::default()
        .with_backoff(Duration::from_millis(100), Duration::from_millis(300))
        .with_max_attempts(5);
    // Full jitter 1.0: the ceiling itself, doubling from the initial backoff up to the maximum.
    assert_eq!(decide(&quick, 1, Duration::ZERO, &timeout), Ok(Duration::from_millis(100)));
    assert_eq!(decide(&quick, 2, Duration::ZERO, &timeout), Ok(Duration::from_millis(200)));
    assert_eq!(decide(&quick, 3, Duration::ZERO, &timeout), Ok(Duration::from_millis(300)));
    assert_eq!(decide(&quick, 4, Duration::ZERO, &timeout), Ok(Duration::from_millis(300)));
}

#[test]
fn phone_runs_start_at_a_digit_and_stop_at_a_word() {
    use hpp_core::__private::redact::scrub;
    // The separator before a number is kept, even after punctuation.
    assert_eq!(scrub("tel. 0701234567"), "tel. ********67");
    assert_eq!(scrub("(0701234567)"), "********67)", "an opening parenthesis belongs to the number");
    // A run that began with '+' still ends at the first letter.
    assert_eq!(scrub("+123 and 4567"), "+123 and 4567");
    assert_eq!(scrub("+46 70 123 45 67 or 1234567"), "*********67 or *****67");
}

#[test]
fn callback_secrets_are_redacted_in_urls_and_nothing_else_is() {
    use hpp_core::__private::redact_secret;
    assert_eq!(
        redact_secret("https://shop.example/cb?sid=s1&secret=0123456789abcdef#top"),
        "https://shop.example/cb?sid=s1&secret=<redacted>#top"
    );
    assert_eq!(redact_secret("/cb?secret=a&secret=b"), "/cb?secret=<redacted>&secret=<redacted>");
    assert_eq!(redact_secret("/cb?xsecret=1&secretive=2"), "/cb?xsecret=1&secretive=2");
    assert_eq!(redact_secret("https://shop.example/cb"), "https://shop.example/cb");
}

#[test]
fn remembered_events_are_counted_with_their_bytes() {
    let mut seen = hpp_core::__private::Deduplicator::new(10);
    assert!(seen.is_empty());
    assert!(seen.first_time("event-a") && seen.first_time("event-bb"));
    assert!(!seen.is_empty());
    assert_eq!((seen.len(), seen.bytes()), (2, 15));
    assert!(!seen.first_time("event-a") && !seen.first_time("event-bb"), "both remembered");
    assert_eq!((seen.len(), seen.bytes()), (2, 15), "a repeat is not stored twice");
}

#[test]
fn e_mail_addresses_are_checked_at_their_limits() {
    use hpp_core::__private::check_email;
    let label = |c: char, n: usize| c.to_string().repeat(n);
    // 254 characters in all is the limit; 64 before the '@'; 63 per domain label.
    let longest = format!("{}@{}.{}.{}.se", label('a', 64), label('b', 63), label('c', 63), label('d', 58));
    assert_eq!(longest.len(), 254);
    assert!(check_email(&longest).is_ok());
    assert!(
        check_email(&format!("{}@{}.{}.{}.se", label('a', 64), label('b', 63), label('c', 63), label('d', 59)))
            .is_err()
    );
    assert!(check_email(&format!("{}@example.com", label('a', 64))).is_ok());
    assert!(check_email(&format!("{}@example.com", label('a', 65))).is_err());
    assert!(check_email(&format!("a@{}.com", label('b', 63))).is_ok());
    assert!(check_email(&format!("a@{}.com", label('b', 64))).is_err());
    // Letters beyond ASCII are allowed before the '@'; spaces and controls of any kind are not.
    assert!(check_email("jöran@example.se").is_ok());
    for bad in [
        "jö\u{a0}ran@example.se",
        "a\u{80}b@example.se",
        "a\u{85}b@example.se",
        "a\u{7f}b@example.se",
        "a(b@example.se",
        "a b@example.se",
    ] {
        assert!(check_email(bad).is_err(), "{bad:?}");
    }
    // Every domain label must be a host name label.
    for bad in ["a@example..se", "a@-example.se", "a@example-.se", "a@exa_mple.se", "a@.se", "a@example.", "a@"] {
        assert!(check_email(bad).is_err(), "{bad}");
    }
    assert!(check_email("a@ex-ample.se").is_ok());
}

#[test]
fn phone_numbers_may_hold_spaces_and_hyphens() {
    use hpp_core::Distribution;
    assert!(Distribution::sms("070 123 45 67", "SE").is_ok());
    assert!(Distribution::sms("070-123-45-67", "SE").is_ok());
    assert!(Distribution::sms("+46701234567", "SE").is_ok());
    assert!(Distribution::sms("070.123.45.67", "SE").is_err());
    assert!(Distribution::sms("1234", "SE").is_err());
    assert!(Distribution::sms("12345", "SE").is_ok());
    assert!(Distribution::sms(&"1".repeat(15), "SE").is_ok());
    assert!(Distribution::sms(&"1".repeat(16), "SE").is_err());
}

#[test]
fn a_create_takes_absolute_http_urls_only() {
    use hpp_core::CreateSession;
    let config = crate::playground();
    let op = CreateSession::new("https://x.example/o/1");
    assert_eq!(op.payment_session_url, "https://x.example/o/1");
    assert!(op.build(&config).is_ok());
    assert!(CreateSession::new("http://x.example/o/1").build(&config).is_ok());
    for bad in ["ftp://x.example/o/1", "x.example/o/1", "https://exa mple/o"] {
        assert!(CreateSession::new(bad).build(&config).is_err(), "{bad}");
    }
}

#[test]
fn body_truncation_is_marked_at_the_limit_and_not_below() {
    use hpp_core::transport::BodyTruncated;
    let mut response = http::Response::new(b"12345".to_vec());
    assert!(!BodyTruncated::mark(&mut response, 5), "exactly the limit is whole");
    assert_eq!(BodyTruncated::of(&response), None);
    assert!(BodyTruncated::mark(&mut response, 4));
    assert_eq!((response.body().as_slice(), BodyTruncated::of(&response)), (&b"1234"[..], Some(4)));
    let mut growing = http::Response::new(Vec::new());
    assert!(!BodyTruncated::append_capped(&mut growing, b"abc", 5));
    assert!(!BodyTruncated::append_capped(&mut growing, b"de", 5));
    assert!(BodyTruncated::append_capped(&mut growing, b"fghij", 5));
    assert_eq!((growing.body().as_slice(), BodyTruncated::of(&growing)), (&b"abcde"[..], Some(5)));
}

#[test]
fn the_virtual_timer_does_what_it_is_told() {
    use hpp_core::Timer;
    use hpp_testing::VirtualTimer;
    let timer = VirtualTimer::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(100)).with_jitter(0.25);
    assert_eq!(timer.jitter(), 0.25);
    assert_eq!(VirtualTimer::new().jitter(), 1.0);
    assert_eq!(VirtualTimer::new().with_jitter(7.0).jitter(), 1.0, "clamped");
    timer.advance(Duration::from_secs(5));
    assert_eq!(timer.now(), Duration::from_secs(5));
    assert_eq!(timer.system_now(), SystemTime::UNIX_EPOCH + Duration::from_secs(105));
    assert!(timer.slept().is_empty(), "advancing is not sleeping");
    // Half jitter halves the backoff a policy asks for.
    let timeout: Error = TransportError::timeout("t").into();
    let decision = RetryPolicy::default().decide(
        ReadSession::REPEATABLE,
        1,
        Duration::ZERO,
        &timeout,
        timer.jitter(),
        timer.system_now(),
    );
    assert_eq!(decision, Ok(Duration::from_millis(125)));
}

#[test]
fn block_on_wakes_for_a_future_completed_from_another_thread() {
    woken_from_another_thread(|waker| waker.wake());
    woken_from_another_thread(|waker| waker.wake_by_ref());
}

fn woken_from_another_thread(wake: fn(std::task::Waker)) {
    let (sender, receiver) = std::sync::mpsc::channel::<std::task::Waker>();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let waker = receiver.recv().unwrap();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        wake(waker);
    });
    let mut sent = Some(sender);
    let value = hpp_runtime::block_on(std::future::poll_fn(|cx| {
        if done.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(42);
        }
        if let Some(sender) = sent.take() {
            sender.send(cx.waker().clone()).unwrap();
        }
        std::task::Poll::Pending
    }));
    assert_eq!(value, 42);
}

#[test]
fn shared_transports_and_clients_show_what_they_are() {
    let transport = hpp_core::transport::SharedTransport::new(|_r: hpp_core::Request| async {
        Err::<hpp_core::Response, _>(TransportError::connect("offline"))
    });
    assert_eq!(format!("{transport:?}"), "SharedTransport(..)");
    let client = hpp_core::Client::new(crate::playground(), transport, hpp_testing::VirtualTimer::new());
    let shown = format!("{client:?}");
    assert!(shown.starts_with("Client { config: Config {") && shown.contains("retry: RetryPolicy"), "{shown}");
    assert!(!shown.contains("SECRETKEY123"), "{shown}");
}
