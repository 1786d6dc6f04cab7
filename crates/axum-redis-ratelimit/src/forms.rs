//! Which form of the limiter a server takes, found on first use, in this order:
//!
//! 1. the module's commands (`RATELIMIT.CHECK`, `RATELIMIT.MCHECK`), where it is loaded;
//! 2. the function library `ratelimit` (`FCALL`), loaded by the client where it is
//!    absent or older (never over a newer one) and `FUNCTION LOAD` is allowed;
//! 3. the script (`EVALSHA`, then `EVAL` after `NOSCRIPT`), where only scripts run.
//!
//! All three decide alike on the same keys (`redis_ratelimit::script`). The choice is
//! made again after an answer that says it changed (an unknown command once the module
//! is gone, `Function not found`, `NOSCRIPT`) and is logged once, at INFO. A server
//! that answers but refuses all three is a configuration error, logged once at ERROR
//! with the fix; the failure mode decides meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::{Cmd, RedisError};
use redis_ratelimit::script;

use crate::plan::Plan;
use redis_ratelimit::args::Algorithm;

/// A form of the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The module's commands.
    Module,
    /// The function library `ratelimit`.
    Functions,
    /// The script, through `EVALSHA`.
    Script,
}

impl Form {
    /// Every form, in the order they are tried.
    pub const ALL: [Form; 3] = [Form::Module, Form::Functions, Form::Script];

    pub fn description(self) -> &'static str {
        match self {
            Form::Module => "the ratelimit module (RATELIMIT.*)",
            Form::Functions => "the ratelimit function library (FCALL)",
            Form::Script => "the ratelimit script (EVALSHA)",
        }
    }
}

/// A charge (positive) or refund (negative) of one limit of a plan: `RATELIMIT.CHARGE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    pub key: String,
    pub limit: u64,
    pub window_s: u64,
    pub amount: i64,
    pub algorithm: Algorithm,
}

/// What is asked of the server.
#[derive(Clone, Copy, Debug)]
pub enum Ask<'a> {
    /// A plan's limits, all or nothing.
    Check(&'a Plan),
    Charge(&'a Charge),
}

impl Ask<'_> {
    /// The key a cluster routes the command by.
    pub fn key(&self) -> Option<&String> {
        match self {
            Ask::Check(plan) => plan.keys.first(),
            Ask::Charge(c) => Some(&c.key),
        }
    }
}

/// The command for `ask` in `form`; `load` sends the script itself (`EVAL`).
pub fn command(form: Form, ask: Ask<'_>, load: bool) -> Cmd {
    match ask {
        Ask::Check(plan) => check_command(form, plan, load),
        Ask::Charge(c) => charge_command(form, c, load),
    }
}

/// `ratelimit_charge`/`RATELIMIT.CHARGE key limit window amount ALGORITHM a`.
fn charge_command(form: Form, c: &Charge, load: bool) -> Cmd {
    let mut cmd = match form {
        Form::Module => {
            let mut cmd = redis::cmd("RATELIMIT.CHARGE");
            cmd.arg(&c.key);
            cmd
        }
        Form::Functions => {
            let mut cmd = redis::cmd("FCALL");
            cmd.arg("ratelimit_charge").arg(1).arg(&c.key);
            cmd
        }
        Form::Script => {
            let mut cmd = script_head(load);
            cmd.arg(1).arg(&c.key).arg("charge");
            cmd
        }
    };
    cmd.arg(c.limit).arg(c.window_s).arg(c.amount);
    cmd.arg("ALGORITHM").arg(c.algorithm.keyword());
    cmd
}

/// `EVALSHA sha` or, to send the script itself, `EVAL source`.
fn script_head(load: bool) -> Cmd {
    if load {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script::eval_source());
        cmd
    } else {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script_sha());
        cmd
    }
}

fn check_command(form: Form, plan: &Plan, load: bool) -> Cmd {
    let mcheck = plan.keys.len() > 1;
    let mut cmd = match form {
        Form::Module => return module_command(plan),
        Form::Functions => {
            let mut cmd = redis::cmd("FCALL");
            cmd.arg(if mcheck {
                "ratelimit_mcheck"
            } else {
                "ratelimit_check"
            });
            cmd
        }
        Form::Script => script_head(load),
    };
    cmd.arg(plan.keys.len()).arg(&plan.keys);
    if form == Form::Script {
        cmd.arg(if mcheck { "mcheck" } else { "check" });
    }
    for (limit, window) in &plan.limits {
        cmd.arg(limit).arg(window);
    }
    cmd.arg("ALGORITHM").arg(plan.algorithm.keyword());
    cmd
}

/// `RATELIMIT.CHECK key limit window ALGORITHM a` for one limit, `RATELIMIT.MCHECK`
/// for several.
fn module_command(plan: &Plan) -> Cmd {
    let mut cmd;
    if let ([key], [(limit, window)]) = (plan.keys.as_slice(), plan.limits.as_slice()) {
        cmd = redis::cmd("RATELIMIT.CHECK");
        cmd.arg(key).arg(limit).arg(window);
    } else {
        cmd = redis::cmd("RATELIMIT.MCHECK");
        cmd.arg(plan.keys.len());
        for (key, (limit, window)) in plan.keys.iter().zip(&plan.limits) {
            cmd.arg(key).arg(limit).arg(window);
        }
    }
    cmd.arg("ALGORITHM").arg(plan.algorithm.keyword());
    cmd
}

/// The SHA1 `EVALSHA` names the script by, as Redis computes it.
fn script_sha() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| {
        redis::Script::new(script::eval_source())
            .get_hash()
            .to_string()
    })
}

fn text(e: &RedisError) -> String {
    e.to_string().to_ascii_lowercase()
}

/// Whether an error says the command itself is missing or refused (an unknown
/// command, an ACL that refuses it), not its input.
pub fn refused(e: &RedisError) -> bool {
    let t = text(e);
    t.contains("unknown command") || t.contains("permissions to run")
}

pub fn function_missing(e: &RedisError) -> bool {
    text(e).contains("function not found")
}

pub fn no_script(e: &RedisError) -> bool {
    e.code() == Some("NOSCRIPT")
}

pub fn already_loaded(e: &RedisError) -> bool {
    text(e).contains("already exists")
}

/// A version's numbers, to order them; anything else orders first.
pub fn version_key(v: &str) -> Vec<u64> {
    v.split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u64>>>()
        .unwrap_or_default()
}

/// What one node needs done for the library: nothing, a load, or a replacement of an
/// older one. `loaded` is the version the node reports, `None` when it has none.
pub fn library_action(loaded: Option<&str>) -> Option<&'static [&'static str]> {
    match loaded {
        None => Some(&["FUNCTION", "LOAD"]),
        Some(v) if version_key(v) < version_key(script::version()) => {
            Some(&["FUNCTION", "LOAD", "REPLACE"])
        }
        Some(_) => None,
    }
}

/// The form one client's server takes, shared by every request.
pub struct Selector {
    form: Mutex<Option<Form>>,
    /// How often a client on the function library or the script asks whether the
    /// module has been loaded since, and when it next may (at once after a lost
    /// connection: a restarted server may have it).
    probe_every: Duration,
    next_probe: Mutex<Instant>,
    library_ready: AtomicBool,
    announced: Mutex<Option<Form>>,
    unsupported_logged: AtomicBool,
    /// Where the server is, for log lines (no credentials).
    pub(crate) place: String,
}

impl Selector {
    pub fn new(place: String, probe_every: Duration) -> Selector {
        Selector {
            form: Mutex::new(None),
            probe_every,
            next_probe: Mutex::new(Instant::now()),
            library_ready: AtomicBool::new(false),
            announced: Mutex::new(None),
            unsupported_logged: AtomicBool::new(false),
            place,
        }
    }

    pub fn current(&self) -> Option<Form> {
        *self.form.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn library_ready(&self) -> bool {
        self.library_ready.load(Ordering::Relaxed)
    }

    pub fn set_library_ready(&self, ready: bool) {
        self.library_ready.store(ready, Ordering::Relaxed);
    }

    /// Whether a request on another form should try the module first: at most once
    /// per interval (the turn is taken by the caller), and after a lost connection.
    pub fn module_probe_due(&self) -> bool {
        let mut next = self.next_probe.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now < *next {
            return false;
        }
        *next = now + self.probe_every;
        true
    }

    /// A command got no answer: once the connection is back, ask for the module again.
    pub fn connection_lost(&self) {
        *self.next_probe.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// `form` answered: use it from now on, and say so once.
    pub fn chose(&self, form: Form) {
        *self.form.lock().unwrap_or_else(|p| p.into_inner()) = Some(form);
        let mut announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        if *announced != Some(form) {
            *announced = Some(form);
            *self.next_probe.lock().unwrap_or_else(|p| p.into_inner()) =
                Instant::now() + self.probe_every;
            self.unsupported_logged.store(false, Ordering::Relaxed);
            tracing::info!(
                "rate limiting through {} on {}",
                form.description(),
                self.place
            );
        }
    }

    /// `form` is not offered (any more).
    pub fn forget(&self, form: Form) {
        let mut current = self.form.lock().unwrap_or_else(|p| p.into_inner());
        if *current == Some(form) {
            *current = None;
        }
    }

    /// No form is offered: the message with the fix, logged at ERROR the first time.
    pub fn unsupported(&self, reasons: &[String]) -> String {
        let message = format!(
            "{} answers, but offers no form of the rate limiter ({}). Load the module \
             there (redis-server --loadmodule libredis_ratelimit.so), or let this \
             client's user run FUNCTION LOAD and FCALL, or EVAL and EVALSHA",
            self.place,
            reasons.join("; ")
        );
        *self.announced.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if !self.unsupported_logged.swap(true, Ordering::Relaxed) {
            tracing::error!("rate limiting: {message}; the failure mode decides meanwhile");
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(n: usize) -> Plan {
        Plan {
            policy: "p".into(),
            algorithm: Algorithm::Sliding,
            keys: (0..n).map(|i| format!("k{i}")).collect(),
            limits: (0..n).map(|i| (10 + i as u64, 60)).collect(),
        }
    }

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => "<not a plain argument>".into(),
            })
            .collect()
    }

    #[test]
    fn one_request_in_each_form() {
        assert_eq!(
            args(&command(Form::Module, Ask::Check(&plan(1)), false)).join(" "),
            "RATELIMIT.CHECK k0 10 60 ALGORITHM SLIDING"
        );
        assert_eq!(
            args(&command(Form::Module, Ask::Check(&plan(2)), false)).join(" "),
            "RATELIMIT.MCHECK 2 k0 10 60 k1 11 60 ALGORITHM SLIDING"
        );
        assert_eq!(
            args(&command(Form::Functions, Ask::Check(&plan(1)), false)).join(" "),
            "FCALL ratelimit_check 1 k0 10 60 ALGORITHM SLIDING"
        );
        assert_eq!(
            args(&command(Form::Functions, Ask::Check(&plan(2)), false)).join(" "),
            "FCALL ratelimit_mcheck 2 k0 k1 10 60 11 60 ALGORITHM SLIDING"
        );
        let sha = args(&command(Form::Script, Ask::Check(&plan(2)), false));
        assert_eq!(sha[0], "EVALSHA");
        assert_eq!(sha[1].len(), 40);
        assert_eq!(
            sha[2..].join(" "),
            "2 k0 k1 mcheck 10 60 11 60 ALGORITHM SLIDING"
        );
        let eval = args(&command(Form::Script, Ask::Check(&plan(1)), true));
        assert_eq!(eval[0], "EVAL");
        assert_eq!(eval[1], script::eval_source());
        assert_eq!(eval[2..].join(" "), "1 k0 check 10 60 ALGORITHM SLIDING");
    }

    #[test]
    fn a_charge_in_each_form() {
        let c = Charge {
            key: "k".into(),
            limit: 10,
            window_s: 60,
            amount: -3,
            algorithm: Algorithm::Gcra,
        };
        let line = |form, load| args(&command(form, Ask::Charge(&c), load)).join(" ");
        assert_eq!(
            line(Form::Module, false),
            "RATELIMIT.CHARGE k 10 60 -3 ALGORITHM GCRA"
        );
        assert_eq!(
            line(Form::Functions, false),
            "FCALL ratelimit_charge 1 k 10 60 -3 ALGORITHM GCRA"
        );
        assert!(line(Form::Script, false).ends_with(" 1 k charge 10 60 -3 ALGORITHM GCRA"));
    }

    #[test]
    fn an_older_library_is_replaced_a_newer_one_kept() {
        assert_eq!(library_action(None), Some(&["FUNCTION", "LOAD"][..]));
        assert_eq!(
            library_action(Some("0.0.1")),
            Some(&["FUNCTION", "LOAD", "REPLACE"][..])
        );
        assert_eq!(library_action(Some(script::version())), None);
        assert_eq!(library_action(Some("999.0.0")), None);
        assert!(version_key("0.10.0") > version_key("0.9.1"));
        assert!(version_key("garbage") < version_key("0.0.1"));
    }
}
