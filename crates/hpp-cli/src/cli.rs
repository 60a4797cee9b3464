//! The command line: every argument, subcommand and their help, and the checks clap cannot
//! express (API flags where no API request is sent).

use clap::{Args, Parser, Subcommand, ValueEnum};
use hpp_core::MerchantUrls;
use hpp_core::model::{PaymentMethodCategory, PlaceOrderMode, PurchaseType, ShowSubtotalDetail};

use crate::request;

/// The Kustom Hosted Payment Page API from a shell.
#[derive(Debug, Parser)]
#[command(
    name = "kustom-hpp",
    version,
    about,
    after_help = "Credentials (never as flags): KUSTOM_API_KEY, or KUSTOM_USERNAME and KUSTOM_PASSWORD.\n\
Where requests go: --base-url (or KUSTOM_HPP_BASE_URL), else --environment.\n\
Exit codes: 0 success; 2 usage or configuration; 3 input refused locally, nothing sent; 4 the API \
answered with an error; 5 no response (the message says whether the request may have been sent); \
6 a response that could not be read; 7 the output could not be written (a full disk); 8 `session \
watch --timeout` passed; 10-13 `session watch` ended unpaid (see its --help); 141 stdout was closed."
)]
pub(crate) struct Cli {
    /// Base URL of the API (a local sandbox, for example), instead of --environment.
    #[arg(long, global = true, env = "KUSTOM_HPP_BASE_URL", hide_env_values = true, help_heading = GLOBAL)]
    pub(crate) base_url: Option<String>,
    /// Which Kustom environment, playground by default (klarna-* for merchants not yet moved);
    /// not together with a base URL, from the flag or the environment.
    #[arg(long, global = true, value_enum, help_heading = GLOBAL)]
    pub(crate) environment: Option<EnvironmentArg>,
    /// Seconds to wait for connecting and for each response (default 30 in the CLI; the SDK's
    /// transports default to 10 to connect and 60 per attempt); for `session watch`,
    /// how long to watch before giving up (exit 8; default: until the session is final or expired).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) timeout: Option<f64>,
    /// Print JSON: one object, the result on stdout or the error on stderr (`session watch` and
    /// `callbacks listen`: one object per line, per event).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) json: bool,
    /// Allow a plain-http --base-url beyond loopback (a sandbox on a private test network). The
    /// credentials then cross that network unencrypted. Never for production.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) send_credentials_over_plain_http: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The help section of the flags every command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum EnvironmentArg {
    Playground,
    Production,
    KlarnaEuPlayground,
    KlarnaEuProduction,
    KlarnaNaPlayground,
    KlarnaNaProduction,
    KlarnaOcPlayground,
    KlarnaOcProduction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Walk the whole story against an in-process sandbox.
    #[command(after_help = "Examples:\n  kustom-hpp demo")]
    Demo,
    /// Serve the sandbox in the foreground (prints {"base_url","username","password"} first, and
    /// `export` lines on stderr), or play the consumer against a running one (`pay`, `cancel`).
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  kustom-hpp sandbox                       # random credentials, a free port\n  \
            kustom-hpp sandbox --port 8080 --username ci --password \"$SANDBOX_PASSWORD\" --email-limit 100\n  \
            kustom-hpp sandbox --bind 0.0.0.0 --advertise sandbox --port 8080   # for a private test network"
    )]
    Sandbox(SandboxArgs),
    /// Create, read or disable sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Send a session's pay link to the consumer.
    #[command(subcommand)]
    Distribute(DistributeCommand),
    /// Receive status callbacks.
    #[command(subcommand)]
    Callbacks(CallbacksCommand),
    /// See where the payment tracker's sessions stand, and retry or forget stuck ones, in its
    /// PostgreSQL store.
    #[command(subcommand)]
    Tracking(TrackingCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), generated from the
    /// same definitions as this help.
    #[command(
        after_help = "Examples:\n  kustom-hpp completions bash > ~/.local/share/bash-completion/completions/kustom-hpp\n  \
        kustom-hpp completions zsh > \"${fpath[1]}/_kustom-hpp\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with --dir write one for every command.
    #[command(after_help = "Examples:\n  kustom-hpp man > kustom-hpp.1 && man ./kustom-hpp.1\n  \
        kustom-hpp man --dir ~/.local/share/man/man1   # kustom-hpp.1, kustom-hpp-session-create.1, ...")]
    Man {
        /// Write a page for every command into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CallbacksCommand {
    /// Receive status_update callbacks on 127.0.0.1, check the secret, print each event once.
    /// Prints {"url": ...} first; stops on SIGINT or SIGTERM.
    #[command(after_help = "Examples:\n  kustom-hpp callbacks listen --port 8081 --secret \"$SECRET\"\n  \
        kustom-hpp callbacks listen --secret \"$SECRET\" --forward-to http://localhost:3000/webhooks/kustom")]
    Listen {
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Accept only callbacks whose URL carries ?secret=S.
        #[arg(long, env = CALLBACK_SECRET_ENV, hide_env_values = true)]
        secret: Option<String>,
        /// Seconds a connection has to send a request's headers before it is closed; a callback
        /// is answered within this and the app's 3 s (503 past it, so the service retries).
        #[arg(long, default_value_t = 10.0)]
        read_timeout: f64,
        /// Forward each verified, first-seen callback to your local app at this URL: the event
        /// (as parsed), and its headers but the connection's own (Connection and those it names,
        /// Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Connection) and credentials
        /// (Authorization, Proxy-Authorization, Cookie). What the app did not accept (non-2xx, or
        /// no answer) is answered 500, so the service retries it; a redelivery arriving meanwhile
        /// is answered 503 (the service retries it later). Accepted: 200.
        #[arg(long, value_name = "URL")]
        forward_to: Option<String>,
        /// Share de-duplication with other listeners, across restarts, in this PostgreSQL
        /// database (postgres://user:password@host/db; TLS by its sslmode, verify-full by default
        /// but to loopback; its own tables, in schema kustom_hpp_listener, created if missing):
        /// each event is printed (and forwarded) by one listener, once; one the app refused is not
        /// recorded, so the service's retry delivers it again.
        #[arg(long, value_name = "POSTGRES_URL", env = CALLBACK_STORE_ENV, hide_env_values = true)]
        store: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Pay a session as the consumer would (status COMPLETED, callbacks sent), on the sandbox at
    /// --base-url / KUSTOM_HPP_BASE_URL with the usual credentials.
    #[command(after_help = "Examples:\n  kustom-hpp sandbox pay \"$SESSION\"   # an id or a URL the API returned")]
    Pay {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
    },
    /// Cancel a session as the consumer would (status CANCELLED).
    Cancel {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
    },
    /// Have the consumer's purchase refused (status FAILED, which is not final: the consumer may
    /// try again).
    Fail {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
    },
    /// Show or change the callback faults of a running sandbox (lost, duplicated, held back).
    ///
    /// The sandbox at --base-url / KUSTOM_HPP_BASE_URL, with the usual credentials; the faults
    /// are drawn from a seed, from the start of its sequence once changed.
    #[command(after_help = "Examples:\n  kustom-hpp sandbox callback-faults                    # show them\n  \
        kustom-hpp sandbox callback-faults --drop 0.2 --seed 7\n  \
        kustom-hpp sandbox callback-faults --drop 0 --duplicate 0 --delay 0   # none again")]
    CallbackFaults(CallbackFaultArgs),
}

/// Where `tracking` commands find the store.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The tracker's PostgreSQL database (postgres://user:password@host/db; TLS by its sslmode,
    /// verify-full by default but to loopback). Its password is never shown.
    #[arg(long, value_name = "POSTGRES_URL", env = TRACKING_STORE_ENV, hide_env_values = true)]
    pub(crate) store: String,
    /// The PostgreSQL schema of the tracker's tables, when not the connection's default
    /// (kustom_hpp_listener: the tables of `callbacks listen --store`).
    #[arg(long, value_name = "NAME")]
    pub(crate) schema: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TrackingCommand {
    /// How many sessions are waiting, due for hand-off, parked and handed off; the oldest
    /// pending; the parked ones with their last error's kind and failures.
    #[command(after_help = concat!("Examples:\n  kustom-hpp tracking status --store \"$DATABASE_URL\"\n  \
        kustom-hpp --json tracking status | jq .parked\n\n",
        "Exit codes: 0 done; 2 usage, or the store could not be used."))]
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tracked sessions, oldest first: their reference (as the logs name them), id, order,
    /// standing, final status, failures and last error's kind.
    #[command(after_help = "Examples:\n  kustom-hpp tracking list --parked\n  \
        kustom-hpp tracking list --pending-older-than 86400   # pending for more than a day\n  \
        kustom-hpp tracking list --reference trk-3f2a9c01b7d4   # from a log line\n\n\
        Exit codes: 0 done (an empty list too); 2 usage, or the store could not be used.")]
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Parked sessions only (their hand-off failed too often).
        #[arg(long)]
        parked: bool,
        /// Sessions with work outstanding, tracked more than this many seconds ago.
        #[arg(long, value_name = "SECONDS")]
        pending_older_than: Option<u64>,
        /// The sessions of this order (the app's order key).
        #[arg(long, value_name = "KEY")]
        order: Option<String>,
        /// The session with this reference (trk-…, from a log line).
        #[arg(long, value_name = "REFERENCE")]
        reference: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Retry a parked hand-off (or every one): it is marked due, and the app's next poller hands
    /// it off (this runs none of the app's code).
    #[command(after_help = concat!("Examples:\n  kustom-hpp tracking retry trk-3f2a9c01b7d4\n  \
        kustom-hpp tracking retry --all-parked\n\n",
        "Exit codes: 0 done; 2 usage, or the store could not be used; 3 no parked session matched."))]
    Retry {
        #[command(flatten)]
        store: StoreArgs,
        /// The parked session's reference (trk-…).
        #[arg(required_unless_present = "all_parked", conflicts_with = "all_parked")]
        reference: Option<String>,
        /// Every parked session.
        #[arg(long)]
        all_parked: bool,
    },
    /// Forget a tracked session: it is never read nor handed off again. For a session settled
    /// by hand. Asks first on a terminal; elsewhere --yes is needed.
    #[command(after_help = concat!("Examples:\n  kustom-hpp tracking forget trk-3f2a9c01b7d4\n  \
        kustom-hpp tracking forget --yes trk-3f2a9c01b7d4   # in a script\n\n",
        "Exit codes: 0 done; 2 usage, not confirmed, or the store could not be used; 3 no tracked session matched."))]
    Forget {
        #[command(flatten)]
        store: StoreArgs,
        /// The session's reference (trk-…).
        reference: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// `sandbox callback-faults`: the chances to set (none: show them).
#[derive(Debug, Args)]
pub(crate) struct CallbackFaultArgs {
    /// The chance (0 to 1) a callback is lost: none of its attempts reach the listener.
    #[arg(long, value_name = "CHANCE")]
    pub(crate) drop: Option<f64>,
    /// The chance (0 to 1) a callback is delivered twice.
    #[arg(long, value_name = "CHANCE")]
    pub(crate) duplicate: Option<f64>,
    /// The chance (0 to 1) a callback is held back by --delay-by (later ones overtake it).
    #[arg(long, value_name = "CHANCE")]
    pub(crate) delay: Option<f64>,
    /// Seconds a held-back callback waits.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) delay_by: Option<f64>,
    /// The seed the faults are drawn from, from the start of its sequence.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    pub(crate) consumer: Option<SandboxCommand>,
    /// Fixed username instead of a random one (repeatable setups).
    #[arg(long, env = "KUSTOM_HPP_SANDBOX_USERNAME")]
    pub(crate) username: Option<String>,
    /// Fixed password instead of a random one (at least 12 characters).
    #[arg(long, env = "KUSTOM_HPP_SANDBOX_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// Address to listen on. Beyond loopback, anyone who can reach it can use the sandbox with its
    /// printed credentials: a private test network only.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: std::net::IpAddr,
    /// Host clients use to reach the sandbox (a compose service name), in its base URL and the
    /// URLs it returns. Default: the bind address, or the hostname when bound to 0.0.0.0 or ::.
    #[arg(long)]
    pub(crate) advertise: Option<String>,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    /// E-mails allowed per day.
    #[arg(long, default_value_t = 100)]
    pub(crate) email_limit: u32,
    /// A recipient to refuse with BLACKLIST_REFUSED (repeatable).
    #[arg(long = "block", value_name = "EMAIL")]
    pub(crate) blocked: Vec<String>,
    /// Behave like production (SMS allowed) instead of the playground.
    #[arg(long)]
    pub(crate) production: bool,
    /// Seconds a callback listener has to answer (the service allows 3).
    #[arg(long, default_value_t = 3.0)]
    pub(crate) callback_timeout: f64,
    /// Seconds before each of the three callback retries.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) callback_retry_delay: f64,
    /// The chance (0 to 1) a callback is lost: none of its attempts reach the listener.
    #[arg(long, default_value_t = 0.0, value_name = "CHANCE")]
    pub(crate) callback_drop: f64,
    /// The chance (0 to 1) a callback is delivered twice.
    #[arg(long, default_value_t = 0.0, value_name = "CHANCE")]
    pub(crate) callback_duplicate: f64,
    /// The chance (0 to 1) a callback is held back by --callback-delay-by (later ones overtake it).
    #[arg(long, default_value_t = 0.0, value_name = "CHANCE")]
    pub(crate) callback_delay: f64,
    /// Seconds a held-back callback waits.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub(crate) callback_delay_by: f64,
    /// The seed of the callback faults drawn (the same seed, the same faults in the same order).
    #[arg(long, default_value_t = 1)]
    pub(crate) callback_seed: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// Create a session for a payment session or checkout order.
    Create(Box<CreateArgs>),
    /// Read a session (SESSION: an id or a session_url).
    #[command(after_help = "Examples:\n  kustom-hpp session get 9cbc9884-1fdb-45a8-9694-9340340d0436\n  \
        kustom-hpp --json session get \"$SESSION_URL\" | jq -r .status")]
    Get {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        /// Refused, with why: a read carries no pay link (`session create --qr` prints it).
        #[arg(long, hide = true)]
        qr: bool,
    },
    /// Disable a session (SESSION: an id or a session_url): the consumer can no longer pay it.
    /// Asks first on a terminal.
    #[command(after_help = "Examples:\n  kustom-hpp session disable 9cbc9884-1fdb-45a8-9694-9340340d0436\n  \
        kustom-hpp session disable --yes \"$SESSION_URL\"   # in a script: no question")]
    Disable {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        /// Do not ask for confirmation (for scripts; without a terminal nothing is asked).
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Print each status change until the session is final or --timeout passes. Exit 0 only when
    /// the consumer completed the payment (COMPLETED): 10 CANCELLED, 11 DISABLED, 12 TIMEOUT (the
    /// consumer ran out of time), 13 the session expired, 8 --timeout passed first, 4 no such session.
    #[command(after_help = "Exit codes: 0 COMPLETED (paid), 10 CANCELLED, 11 DISABLED, 12 TIMEOUT, \
        13 expired, 8 --timeout passed, 2 usage, 4 API error (no such session), 5 no response.\n\
        Only 0 means paid: `kustom-hpp session watch S && ship_order` ships paid orders only.\n\n\
        Examples:\n  kustom-hpp session watch \"$SESSION\" --timeout 600 && ship_order\n  \
        kustom-hpp --json session watch \"$SESSION\" | jq -c .status   # one object per line")]
    Watch {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        /// Seconds between reads at first (backing off while nothing changes).
        #[arg(long, default_value_t = 2.0)]
        interval: f64,
    },
}

#[derive(Debug, Args)]
#[command(after_help = "Every field of the create request can be set: a flag per field, or the whole body with \
    --body FILE (`-`: standard input), with flags set on top of it. Option values are checked against the \
    values listed; --allow-unknown-values sends one the API added after this version.\n\n\
    Examples:\n  kustom-hpp session create --payment-session-url https://api.playground.kustom.co/checkout/v3/orders/ID \\\n    \
    --success 'https://shop.example/ok?sid={{session_id}}' --status-update 'https://shop.example/cb?secret=S'\n  \
    kustom-hpp session create --body order.json --purchase-type BUY --qr")]
pub(crate) struct CreateArgs {
    /// URL of the payment session or checkout order (required, here or in --body).
    #[arg(long)]
    pub(crate) payment_session_url: Option<String>,
    /// The whole request body as JSON (SessionCreationRequestV1), from FILE or `-` for standard
    /// input; flags given too are set on top of it. A field the API does not define is refused.
    #[arg(long, value_name = "FILE")]
    pub(crate) body: Option<String>,
    /// Redirect after a successful payment.
    #[arg(long)]
    pub(crate) success: Option<String>,
    /// Redirect after cancelling.
    #[arg(long)]
    pub(crate) cancel: Option<String>,
    /// Redirect after pressing back.
    #[arg(long)]
    pub(crate) back: Option<String>,
    /// Redirect after a refusal.
    #[arg(long)]
    pub(crate) failure: Option<String>,
    /// Redirect after an error.
    #[arg(long)]
    pub(crate) error: Option<String>,
    /// Status callback URL.
    #[arg(long)]
    pub(crate) status_update: Option<String>,
    /// Profile with default options for the page (profile_id).
    #[arg(long)]
    pub(crate) profile_id: Option<String>,
    /// URL of the logo on the page (options.logo_url).
    #[arg(long)]
    pub(crate) logo_url: Option<String>,
    /// Title of the page (options.page_title).
    #[arg(long)]
    pub(crate) page_title: Option<String>,
    /// A background image, URL or URL@WIDTH in pixels (options.background_images; repeatable).
    #[arg(long = "background-image", value_name = "URL[@WIDTH]")]
    pub(crate) background_images: Vec<String>,
    /// Payment method categories to offer (options.payment_method_categories; repeatable or
    /// comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = request::KnownValues(PaymentMethodCategory::KNOWN))]
    pub(crate) payment_method_categories: Vec<String>,
    /// The one payment method category to offer (options.payment_method_category).
    #[arg(long, value_parser = request::KnownValues(PaymentMethodCategory::KNOWN))]
    pub(crate) payment_method_category: Option<String>,
    /// Who places the order after authorization (options.place_order_mode).
    #[arg(long, value_parser = request::KnownValues(PlaceOrderMode::KNOWN))]
    pub(crate) place_order_mode: Option<String>,
    /// The type of purchase, for the page's wording (options.purchase_type).
    #[arg(long, value_parser = request::KnownValues(PurchaseType::KNOWN))]
    pub(crate) purchase_type: Option<String>,
    /// Hide the subtotal detail (options.show_subtotal_detail).
    #[arg(long, value_parser = request::KnownValues(ShowSubtotalDetail::KNOWN))]
    pub(crate) show_subtotal_detail: Option<String>,
    /// Send option values not listed here (ones the API added after this version) instead of
    /// refusing them.
    #[arg(long)]
    pub(crate) allow_unknown_values: bool,
    /// Also print the pay link (redirect_url) as a QR code, for a phone to scan (not with --json).
    #[arg(long)]
    pub(crate) qr: bool,
}

impl CreateArgs {
    pub(crate) fn into_fields(self) -> request::CreateFields {
        let mut urls = MerchantUrls::default();
        urls.success = self.success;
        urls.cancel = self.cancel;
        urls.back = self.back;
        urls.failure = self.failure;
        urls.error = self.error;
        urls.status_update = self.status_update;
        request::CreateFields {
            body: self.body,
            payment_session_url: self.payment_session_url,
            merchant_urls: urls,
            profile_id: self.profile_id,
            logo_url: self.logo_url,
            page_title: self.page_title,
            background_images: self.background_images,
            payment_method_categories: self.payment_method_categories,
            payment_method_category: self.payment_method_category,
            place_order_mode: self.place_order_mode,
            purchase_type: self.purchase_type,
            show_subtotal_detail: self.show_subtotal_detail,
            allow_unknown_values: self.allow_unknown_values,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum DistributeCommand {
    /// E-mail the pay link (SESSION: an id or a distribution_url).
    #[command(after_help = "Examples:\n  kustom-hpp distribute email \"$SESSION\" --email jane.doe@example.com")]
    Email {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        #[arg(long)]
        /// The consumer's e-mail address.
        email: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Hand the session to a device by its access id (SESSION: an id or a distribution_url).
    #[command(
        after_help = "Examples:\n  kustom-hpp distribute token \"$SESSION\" --access-id 5a5e8e70-1a96-4651-b3b6-b774012a5bbb"
    )]
    Token {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        #[arg(long)]
        /// The access id the device showed (from its QR code flow).
        access_id: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Text the pay link (SESSION: an id or a distribution_url).
    #[command(
        after_help = "Examples:\n  kustom-hpp distribute sms \"$SESSION\" --phone '+46 70 123 45 67' --phone-country SE"
    )]
    Sms {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        #[arg(long)]
        /// The consumer's phone number.
        phone: String,
        #[arg(long)]
        /// The phone number's country, ISO 3166 alpha-2 (SE, NO, DE...).
        phone_country: String,
        /// The template (the spec lists INSTORE_PURCHASE and calls it unused).
        #[arg(long)]
        template: Option<String>,
    },
    /// Send a whole distribution request (DistributionRequestV1) as JSON from FILE, or `-` for
    /// standard input, checked as the other methods check theirs (SESSION: an id or a
    /// distribution_url).
    #[command(after_help = "Examples:\n  kustom-hpp distribute body \"$SESSION\" distribution.json\n  \
        echo '{\"method\":\"email\",\"contact_information\":{\"email\":\"jane@example.com\"}}' | kustom-hpp distribute body \"$SESSION\" -")]
    Body {
        /// The session: its id, or the URL the API returned for it.
        #[arg(value_parser = session_arg)]
        session: String,
        /// The JSON file, or `-` for standard input.
        #[arg(value_name = "FILE")]
        body: String,
    },
}

/// The flags that say where API requests go and how long to wait: global, so they may come
/// before or after the subcommand, but shown only where they apply.
pub(crate) const API_FLAGS: [&str; 4] = ["base_url", "environment", "send_credentials_over_plain_http", "timeout"];

/// The commands that send no API request, with the flags of [`API_FLAGS`] each still uses.
pub(crate) const NOT_API: [(&str, &[&str]); 6] = [
    ("demo", &["timeout"]),
    ("sandbox", &[]),
    ("callbacks", &[]),
    ("tracking", &[]),
    ("completions", &[]),
    ("man", &[]),
];

/// The command line's definitions: the derived ones, with the API flags hidden from the help of
/// the commands they do not apply to (clap adds global flags to every subcommand).
pub(crate) fn definitions() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    let originals: Vec<clap::Arg> =
        command.get_arguments().filter(|a| API_FLAGS.contains(&a.get_id().as_str())).cloned().collect();
    for (name, uses) in NOT_API {
        command = command.mut_subcommand(name, |mut sub| {
            // A hidden copy on the subcommand stops clap from propagating the visible global one
            // to it (and its own copy reaches `callbacks listen`, hidden too).
            for arg in originals.iter().filter(|a| !uses.contains(&a.get_id().as_str())) {
                sub = sub.arg(arg.clone().hide(true));
            }
            // `sandbox pay|cancel|fail` talk to a sandbox's API: the flags apply there, shown.
            let children: Vec<String> = sub.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            for child in children.iter().filter(|_| name == "sandbox") {
                sub = sub.mut_subcommand(child, |mut c| {
                    for arg in &originals {
                        c = c.arg(arg.clone());
                    }
                    c
                });
            }
            sub
        });
    }
    command
}

/// An API flag given on the command line to a command it does not apply to (an environment
/// variable such as `KUSTOM_HPP_BASE_URL` is fine: it is set for other commands too).
pub(crate) fn misplaced_flag(matches: &clap::ArgMatches) -> Option<String> {
    let (name, sub) = matches.subcommand()?;
    let (_, uses) = NOT_API.iter().find(|(n, _)| *n == name)?;
    // `sandbox pay|cancel|fail` talk to a sandbox's API: every flag applies there.
    if name == "sandbox" && sub.subcommand().is_some() {
        return None;
    }
    let (path, innermost) = match sub.subcommand() {
        Some((child, m)) => (format!("{name} {child}"), m),
        None => (name.to_owned(), sub),
    };
    let given = |m: &clap::ArgMatches, flag: &str| m.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
    API_FLAGS.iter().filter(|f| !uses.contains(f)).find_map(|flag| {
        // Before the subcommand or after it: clap keeps a global flag's value at every level.
        let misplaced = given(matches, flag) || given(innermost, flag);
        misplaced.then(|| format!("--{} does not apply to `{path}`", flag.replace('_', "-")))
    })
}

/// The environment variable holding `tracking … --store`.
pub(crate) const TRACKING_STORE_ENV: &str = "KUSTOM_HPP_TRACKING_STORE";

/// The environment variable holding `callbacks listen --store`.
pub(crate) const CALLBACK_STORE_ENV: &str = "KUSTOM_HPP_CALLBACK_STORE";

/// The environment variable holding `callbacks listen --secret`.
pub(crate) const CALLBACK_SECRET_ENV: &str = "KUSTOM_HPP_CALLBACK_SECRET";

/// A SESSION argument as given, refused with what is wrong when it has whitespace or quotes
/// around it (pasted from JSON or a terminal), which no id or URL the API returns has.
pub(crate) fn session_arg(value: &str) -> Result<String, String> {
    if value.trim() != value {
        return Err("it has whitespace around it (pasted?); give the id or URL without it".to_owned());
    }
    let quotes = ['"', '\'', '`', '\u{201c}', '\u{201d}', '\u{2018}', '\u{2019}'];
    if value.chars().count() >= 2 && value.starts_with(quotes) && value.ends_with(quotes) {
        return Err("it is in quotes (copied from JSON?); give the id or URL without them".to_owned());
    }
    Ok(value.to_owned())
}
