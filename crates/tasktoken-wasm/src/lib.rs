//! wasm-bindgen bindings of the tasktoken core. Thin by rule: values are converted at the
//! boundary and every decision is the core's. The npm package (`js/`) wraps these exports.
//!
//! The crate builds two wasm modules (docs/wasm.md), chosen by feature:
//! - `verify` — what edge workers and browsers load (`tasktoken/verify`):
//!   `CoreVerifier` (settings once — revocation source and policy with `useReplica` or
//!   `useFilter`, the audit listener with `setDecisionSink` — then one `verify(token, action,
//!   resource, keyThumbprint?, dpop?, now)`, `verifyForRevocation`, `authorizeRevocation`),
//!   `CoreRevocationFilter`, `CoreReplica`, `refusalEvent`, `proofNonce`;
//! - `mint` — what issuers and authorities add (`tasktoken`): `generateKey`, `CoreIssuer`,
//!   `planPublication`, `signSnapshot`, `signDelta`.
//!
//! Both export `setErrorClass(ctor)`: the package registers its `TaskTokenError` class once
//! per module. Structured values cross as JSON text in both directions (the package has
//! already reduced them to plain JSON data), which keeps a JS-object bridge out of the wasm.
#![deny(missing_docs)]

use std::cell::RefCell;
use std::rc::Rc;

use tasktoken::{AuditEvent, AuditSink, Error, ErrorKind};
use wasm_bindgen::prelude::*;

#[cfg(feature = "mint")]
mod mint;
#[cfg(feature = "verify")]
mod verify;

thread_local! {
    /// The package's `TaskTokenError` constructor, once registered.
    static ERROR_CLASS: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

/// Registers the JS class that errors are thrown as: `new ctor(code, message)`.
#[wasm_bindgen(js_name = setErrorClass)]
pub fn set_error_class(ctor: js_sys::Function) {
    ERROR_CLASS.with(|class| *class.borrow_mut() = Some(ctor));
}

/// An error on its way to JS: the one place core errors become JS exceptions.
pub struct Failure(Error);

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure(err)
    }
}

impl From<Failure> for JsValue {
    fn from(Failure(err): Failure) -> JsValue {
        let (code, message) = (JsValue::from_str(err.code()), JsValue::from_str(err.message()));
        let registered = ERROR_CLASS.with(|class| class.borrow().clone());
        if let Some(ctor) = registered {
            if let Ok(error) =
                js_sys::Reflect::construct(&ctor, &js_sys::Array::of2(&code, &message))
            {
                return error;
            }
        }
        // Before registration (never, through the package): a plain Error carrying `code`.
        let error = js_sys::Error::new(err.message());
        let _ = js_sys::Reflect::set(&error, &JsValue::from_str("code"), &code);
        error.into()
    }
}

type JsResult<T> = Result<T, Failure>;

/// Reads an options object, given as JSON text, strictly: every member known
/// (`deny_unknown_fields`), so that a misspelt `maxLifeTime` is an error instead of a silently
/// ignored limit. serde's message names the member and the expected type; quoted values are
/// cut out of it (see [`redact`]).
fn options<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> JsResult<T> {
    serde_json::from_str(json).map_err(|e| {
        Failure(Error::new(ErrorKind::Malformed, format!("invalid {what}: {}", redact(&e))))
    })
}

/// serde's message with every quoted string value cut out: the field name and the expected
/// type stay, a value (which could be a token or a private key put in the wrong place) never
/// reaches an error message.
fn redact(err: &dyn core::fmt::Display) -> String {
    let text = err.to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            // Skip to the closing quote, honouring backslash escapes.
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
            out.push_str("…\"");
        }
    }
    out
}

/// Where a core object's audit events go: a JS function the package registered
/// (`setDecisionSink`), called with each decision's event as JSON text, built by the core.
///
/// The event of a call is captured while the core decides and handed over only once the
/// call has released everything it borrowed, so a listener may call the same object again.
/// A listener that throws changes nothing: the decision stands.
#[derive(Default)]
struct Decisions {
    sink: RefCell<Option<js_sys::Function>>,
    last: Rc<RefCell<Option<AuditEvent>>>,
}

/// A sink that keeps the one event of a call.
struct Capture(Rc<RefCell<Option<AuditEvent>>>);

impl AuditSink for Capture {
    fn record(&self, event: &AuditEvent) {
        *self.0.borrow_mut() = Some(event.clone());
    }
}

impl Decisions {
    /// Sets (or with `None` removes) the JS function events are handed to.
    fn set(&self, sink: Option<js_sys::Function>) {
        *self.sink.borrow_mut() = sink;
    }

    /// A sink for this call's event, if anyone listens.
    fn capturing(&self) -> Option<Capture> {
        self.sink.borrow().is_some().then(|| Capture(self.last.clone()))
    }

    /// Hands the captured event, if any, to the listener; returns `result` unchanged.
    fn deliver<T>(&self, result: T) -> T {
        let event = self.last.borrow_mut().take();
        let sink = self.sink.borrow().clone();
        if let (Some(event), Some(sink)) = (event, sink) {
            let json = JsValue::from_str(&event.to_json().to_string());
            // A throwing listener is the package's to report; the decision stands.
            let _ = sink.call1(&JsValue::NULL, &json);
        }
        result
    }
}

/// The audit event of a verification refused before any token reached a verifier (a request
/// without a token, a verifier with no keys loaded, bad arguments), as JSON text: built here
/// so that every event the package hands out has the core's shape ([`AuditEvent::refusal`]:
/// an `outcome` that is not a stable code is recorded as `malformed`); `decided_by` names the
/// guard or verifier; `action` and `resource` are what was requested, if known.
#[cfg(feature = "verify")]
#[wasm_bindgen(js_name = refusalEvent)]
pub fn refusal_event(
    outcome: &str,
    decided_by: &str,
    action: Option<String>,
    resource: Option<String>,
    now: f64,
) -> String {
    let mut event = AuditEvent::refusal(seconds(now).unwrap_or(0), outcome, decided_by);
    event.action = action;
    event.resource = resource;
    event.to_json().to_string()
}

/// A JS time in seconds as the core's integer seconds; NaN and infinities are refused.
fn seconds(now: f64) -> Result<i64, Failure> {
    if !now.is_finite() {
        return Err(
            Error::new(ErrorKind::Malformed, "`now` must be a finite number of seconds").into()
        );
    }
    // `as` saturates out-of-range floats, which is the intent for absurd clocks.
    Ok(now.floor() as i64)
}
