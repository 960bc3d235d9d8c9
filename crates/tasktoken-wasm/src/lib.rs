//! wasm-bindgen bindings of the tasktoken core. Thin by rule: values are converted at the
//! boundary and every decision is the core's. The npm package (`js/`) wraps these exports.
//!
//! The crate builds two wasm modules (docs/wasm.md), chosen by feature:
//! - `verify` — what edge workers and browsers load (`tasktoken/verify`):
//!   `CoreVerifier` (`verify`, `useReplica`, `useFilter`, `verifyForRevocation`,
//!   `authorizeRevocation`), `CoreRevocationFilter`, `CoreReplica`;
//! - `mint` — what issuers and authorities add (`tasktoken`): `generateKey`, `CoreIssuer`,
//!   `planPublication`, `signSnapshot`, `signDelta`.
//!
//! Both export `setErrorClass(ctor)`: the package registers its `TaskTokenError` class once
//! per module. Structured values cross as JSON text in both directions (the package has
//! already reduced them to plain JSON data), which keeps a JS-object bridge out of the wasm.
#![deny(missing_docs)]

use std::cell::{Cell, RefCell};
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

/// Audit decisions the JS side asked for: capture the next one, hand it over once.
#[derive(Default)]
struct Decisions {
    capture: Cell<bool>,
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
    /// A sink for this call if the next decision was asked for (and resets the request).
    fn capturing(&self) -> Option<Capture> {
        self.capture.replace(false).then(|| Capture(self.last.clone()))
    }

    /// The captured event as JSON text, once; `undefined` in JS when there is none.
    fn take(&self) -> Option<String> {
        self.last.borrow_mut().take().map(|event| event.to_json().to_string())
    }
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
