//! Expressions and text templates: minijinja, with a small set of date and number filters.
//!
//! Conditions (`when`, `show_if`, `required_if`), computed values (`compute`) and party
//! expressions are compiled once at load time. Text templates (document title, file name, sign
//! message) are checked at load time and rendered on demand. One process-wide environment is
//! shared; it holds only pure functions.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock};

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime};
use minijinja::value::Value;

use crate::diag::Pos;
use minijinja::{Environment, Error, ErrorKind, Expression, UndefinedBehavior};

static ENV: LazyLock<Environment<'static>> = LazyLock::new(build_env);

fn build_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("add_days", |v: Value, n: i64| shift(v, Shift::Days(n)));
    env.add_filter("add_weeks", |v: Value, n: i64| shift(v, Shift::Days(n * 7)));
    env.add_filter("add_months", |v: Value, n: i64| shift(v, Shift::Months(n)));
    env.add_filter("add_years", |v: Value, n: i64| {
        shift(v, Shift::Months(n * 12))
    });
    env.add_filter("to_date", to_date);
    env.add_filter("days_between", days_between);
    env.add_filter("format_date", format_date);
    env.add_filter("format_number", format_number);
    // Every evaluation and rendering is bounded: loops, ranges and large strings use up fuel
    // (roughly one unit per instruction and per byte allocated), and running out is an error.
    env.set_fuel(Some(FUEL));
    env
}

/// How much work one expression or text template may do (see `Environment::set_fuel`). A
/// condition uses tens of units; a sign message that lists 150 members a few thousand.
pub const FUEL: u64 = 5_000_000;

/// A compiled expression with its source.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    compiled: Arc<Expression<'static, 'static>>,
    origin: Option<Arc<(String, Pos)>>,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// An expression or template failed to compile or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// 1-based line inside the expression text, when known.
    pub line: Option<usize>,
    pub kind: ExprErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorKind {
    Syntax,
    UnknownFilterOrFunction,
    Evaluation,
}

impl From<Error> for ExprError {
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::SyntaxError | ErrorKind::BadEscape | ErrorKind::InvalidDelimiter => {
                ExprErrorKind::Syntax
            }
            ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction => {
                ExprErrorKind::UnknownFilterOrFunction
            }
            _ => ExprErrorKind::Evaluation,
        };
        let message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        ExprError {
            message,
            line: e.line(),
            kind,
        }
    }
}

impl Expr {
    /// Compiles an expression.
    pub fn compile(source: &str) -> Result<Expr, ExprError> {
        let compiled = ENV.compile_expression_owned(source.to_owned())?;
        Ok(Expr {
            source: Arc::from(source),
            compiled: Arc::new(compiled),
            origin: None,
        })
    }

    /// Records where the expression was written, for diagnostics.
    pub fn located(mut self, file: &str, pos: Pos) -> Expr {
        self.origin = Some(Arc::new((file.to_owned(), pos)));
        self
    }

    /// Where the expression was written: (file, position).
    pub fn origin(&self) -> Option<(&str, Pos)> {
        self.origin.as_deref().map(|(f, p)| (f.as_str(), *p))
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The names the expression reads, as dotted paths (`decision.maker.name`).
    pub fn names(&self) -> HashSet<String> {
        self.compiled.undeclared_variables(true)
    }

    /// Evaluates against a [`Context`].
    pub fn eval_in(&self, ctx: &Context) -> Result<serde_json::Value, ExprError> {
        let v = self.compiled.eval(ctx.0.clone())?;
        to_json(&v)
    }

    /// Evaluates as a condition (minijinja truthiness) against a [`Context`].
    pub fn truthy_in(&self, ctx: &Context) -> Result<bool, ExprError> {
        Ok(self.compiled.eval(ctx.0.clone())?.is_true())
    }

    /// Evaluates against a JSON context.
    pub fn eval(&self, ctx: &serde_json::Value) -> Result<serde_json::Value, ExprError> {
        let v = self
            .compiled
            .eval(Value::from(minijinja::value::Serde(ctx)))?;
        to_json(&v)
    }

    /// Evaluates as a condition (minijinja truthiness).
    pub fn truthy(&self, ctx: &serde_json::Value) -> Result<bool, ExprError> {
        Ok(self
            .compiled
            .eval(Value::from(minijinja::value::Serde(ctx)))?
            .is_true())
    }
}

/// What an expression reads, as layers: a name in a later layer hides the same name in an
/// earlier one (a group item's fields hide the step's). Making a context from JSON walks the
/// JSON once; stacking contexts ([`Context::over`]) and stepping into one ([`Context::get`])
/// copy nothing, so giving every field of a large case its own context stays linear.
#[derive(Clone, Debug)]
pub struct Context(Value);

impl Context {
    pub fn from_json(v: &serde_json::Value) -> Context {
        Context(Value::from(minijinja::value::Serde(v)))
    }

    pub fn from_map(m: &serde_json::Map<String, serde_json::Value>) -> Context {
        Context(Value::from(minijinja::value::Serde(m)))
    }

    /// A map of the given names to contexts (the top level: builtins and steps).
    pub fn from_entries(entries: &[(String, Context)]) -> Context {
        Context(Value::from_pairs(
            entries.iter().map(|(k, v)| (k.as_str(), v.0.clone())),
        ))
    }

    /// `self` with `layers` on top, the last one innermost.
    pub fn over(&self, layers: &[Context]) -> Context {
        if layers.is_empty() {
            return self.clone();
        }
        Context(minijinja::value::merge_maps(
            std::iter::once(self.0.clone()).chain(layers.iter().map(|l| l.0.clone())),
        ))
    }

    /// The value under `key`, if it is there.
    pub fn get(&self, key: &str) -> Option<Context> {
        self.0
            .get_attr(key)
            .ok()
            .filter(|v| !v.is_undefined())
            .map(Context)
    }

    /// Whether the value at the dotted `path` is missing, null, blank text or an empty list.
    pub fn is_empty_at(&self, path: &str) -> bool {
        let mut cur = self.0.clone();
        for seg in path.split('.') {
            match cur.get_attr(seg) {
                Ok(v) if !v.is_undefined() => cur = v,
                _ => return true,
            }
        }
        if cur.is_none() {
            return true;
        }
        if let Some(s) = cur.as_str() {
            return s.trim().is_empty();
        }
        cur.kind() == minijinja::value::ValueKind::Seq && cur.len() == Some(0)
    }
}

fn to_json(v: &Value) -> Result<serde_json::Value, ExprError> {
    if v.is_undefined() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::to_value(v).map_err(|e| ExprError {
        message: format!("the result cannot be stored: {e}"),
        line: None,
        kind: ExprErrorKind::Evaluation,
    })
}

/// Checks a text template's syntax and returns the names it reads.
pub fn template_names(source: &str) -> Result<HashSet<String>, ExprError> {
    let t = ENV.template_from_str(source)?;
    Ok(t.undeclared_variables(true))
}

/// Renders a text template against a JSON context (no HTML escaping: the results are plain
/// text such as a file name or an eID sign message).
pub fn render_template(source: &str, ctx: &serde_json::Value) -> Result<String, ExprError> {
    Ok(ENV.render_str(source, Value::from(minijinja::value::Serde(ctx)))?)
}

// ---- filters ---------------------------------------------------------------------------

enum Shift {
    Days(i64),
    Months(i64),
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A date or date-time value as text: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`.
enum When {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

fn parse_when(v: &Value) -> Result<Option<When>, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(None);
    }
    let Some(s) = v.as_str() else {
        return Err(invalid("expected a date as text (YYYY-MM-DD)"));
    };
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(Some(When::Date(d)));
    }
    for fmt in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Some(When::DateTime(dt)));
        }
    }
    Err(invalid(format!("`{s}` is not a date (YYYY-MM-DD)")))
}

fn shift_date(d: NaiveDate, by: &Shift) -> Option<NaiveDate> {
    match *by {
        Shift::Days(n) if n >= 0 => d.checked_add_days(Days::new(n.unsigned_abs())),
        Shift::Days(n) => d.checked_sub_days(Days::new(n.unsigned_abs())),
        Shift::Months(n) if n >= 0 => d.checked_add_months(Months::new(u32::try_from(n).ok()?)),
        Shift::Months(n) => d.checked_sub_months(Months::new(u32::try_from(-n).ok()?)),
    }
}

fn shift(v: Value, by: Shift) -> Result<Value, Error> {
    match parse_when(&v)? {
        None => Ok(Value::from(())),
        Some(When::Date(d)) => shift_date(d, &by)
            .map(|d| Value::from(d.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| invalid("date out of range")),
        Some(When::DateTime(dt)) => shift_date(dt.date(), &by)
            .map(|d| Value::from(d.and_time(dt.time()).format("%Y-%m-%dT%H:%M").to_string()))
            .ok_or_else(|| invalid("date out of range")),
    }
}

fn to_date(v: Value) -> Result<Value, Error> {
    Ok(match parse_when(&v)? {
        None => Value::from(()),
        Some(When::Date(d)) => Value::from(d.format("%Y-%m-%d").to_string()),
        Some(When::DateTime(dt)) => Value::from(dt.date().format("%Y-%m-%d").to_string()),
    })
}

fn date_of(w: When) -> NaiveDate {
    match w {
        When::Date(d) => d,
        When::DateTime(dt) => dt.date(),
    }
}

/// `a | days_between(b)`: whole days from a to b.
fn days_between(a: Value, b: Value) -> Result<Value, Error> {
    match (parse_when(&a)?, parse_when(&b)?) {
        (Some(a), Some(b)) => Ok(Value::from((date_of(b) - date_of(a)).num_days())),
        _ => Ok(Value::from(())),
    }
}

const MONTHS_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `d | format_date` → "25 november 2026" (Swedish) or `format_date("en")` → "25 November 2026";
/// date-times add "kl. 14.30" / "at 14:30".
fn format_date(v: Value, lang: Option<String>) -> Result<Value, Error> {
    let en = lang.as_deref() == Some("en");
    let fmt_day = |d: NaiveDate| {
        let names = if en { MONTHS_EN } else { MONTHS_SV };
        let month = names.get(d.month0() as usize).copied().unwrap_or("");
        format!("{} {} {}", d.day(), month, d.year())
    };
    Ok(match parse_when(&v)? {
        None => Value::from(()),
        Some(When::Date(d)) => Value::from(fmt_day(d)),
        Some(When::DateTime(dt)) => {
            let t = if en {
                dt.format("at %H:%M").to_string()
            } else {
                dt.format("kl. %H.%M").to_string()
            };
            Value::from(format!("{} {t}", fmt_day(dt.date())))
        }
    })
}

/// `n | format_number(2)` → "1 234,50": Swedish digit grouping and decimal comma.
fn format_number(v: Value, decimals: Option<u32>) -> Result<Value, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(Value::from(()));
    }
    let n = f64::try_from(v).map_err(|_| invalid("expected a number"))?;
    Ok(Value::from(swedish_number(n, decimals.unwrap_or(0))))
}

/// Formats a number the Swedish way: space (U+00A0) as thousands separator, comma for decimals.
pub fn swedish_number(n: f64, decimals: u32) -> String {
    let text = format!("{:.*}", decimals as usize, n.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i.to_owned(), Some(f.to_owned())),
        None => (text, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if n < 0.0 && n.abs() >= 0.5 * 10f64.powi(-(decimals as i32)) {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped},{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, ctx: serde_json::Value) -> serde_json::Value {
        Expr::compile(src)
            .and_then(|e| e.eval(&ctx))
            .unwrap_or_else(|e| serde_json::Value::String(format!("ERR {e}")))
    }

    #[test]
    fn date_filters() {
        assert_eq!(
            eval("d | add_days(7)", json!({"d": "2026-11-22"})),
            json!("2026-11-29")
        );
        assert_eq!(
            eval("d | add_days(-1)", json!({"d": "2026-01-01"})),
            json!("2025-12-31")
        );
        assert_eq!(
            eval("d | add_weeks(4)", json!({"d": "2026-11-22T14:30"})),
            json!("2026-12-20T14:30")
        );
        assert_eq!(
            eval("d | add_months(1)", json!({"d": "2026-01-31"})),
            json!("2026-02-28")
        );
        assert_eq!(
            eval("d | to_date", json!({"d": "2026-11-22T14:30"})),
            json!("2026-11-22")
        );
        assert_eq!(
            eval(
                "a | days_between(b)",
                json!({"a": "2026-11-22", "b": "2026-12-01"})
            ),
            json!(9)
        );
        assert_eq!(eval("d | add_days(7)", json!({})), json!(null));
        assert!(
            eval("d | add_days(7)", json!({"d": "igår"}))
                .to_string()
                .contains("ERR")
        );
    }

    #[test]
    fn format_filters() {
        assert_eq!(
            eval("d | format_date", json!({"d": "2026-11-05"})),
            json!("5 november 2026")
        );
        assert_eq!(
            eval("d | format_date('en')", json!({"d": "2026-03-05T09:05"})),
            json!("5 March 2026 at 09:05")
        );
        assert_eq!(
            eval("d | format_date", json!({"d": "2026-03-05T09:05"})),
            json!("5 mars 2026 kl. 09.05")
        );
        assert_eq!(
            eval("n | format_number(2)", json!({"n": 1234.5})),
            json!("1\u{a0}234,50")
        );
        assert_eq!(swedish_number(-1234567.0, 0), "-1\u{a0}234\u{a0}567");
        assert_eq!(swedish_number(42.5, 1), "42,5");
        assert_eq!(swedish_number(-0.001, 2), "0,00");
    }

    #[test]
    fn conditions_and_names() {
        let e = Expr::compile("'3' in grounds and not child.protected")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            e.truthy(&json!({"grounds": ["2", "3"], "child": {"protected": false}}))
                .unwrap_or(false)
        );
        assert!(
            !e.truthy(&json!({"grounds": ["2"], "child": {"protected": false}}))
                .unwrap_or(true)
        );
        let names = e.names();
        assert!(
            names.contains("grounds") && names.contains("child.protected"),
            "{names:?}"
        );
    }

    #[test]
    fn syntax_errors_are_values() {
        let err = Expr::compile("a and (b").err().map(|e| e.kind);
        assert_eq!(err, Some(ExprErrorKind::Syntax));
        assert!(template_names("Hej {{ name").is_err());
        let names =
            template_names("Ärende {{ case.number }}: {{ document.sha256 }}").unwrap_or_default();
        assert!(names.contains("case.number") && names.contains("document.sha256"));
    }

    #[test]
    fn templates_do_not_escape_and_keep_markup_literal() {
        let out = render_template("{{ x }}", &json!({"x": "<b>&\"{{y}}\""})).unwrap_or_default();
        assert_eq!(out, "<b>&\"{{y}}\"");
    }
}
