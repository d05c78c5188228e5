//! `--config run.toml`: the file's keys become flags placed before the command line's own, so
//! that (with clap's `args_override_self`) the command line wins.
//!
//! Every key is checked against the subcommand's own flags, as clap defines them, before
//! anything is parsed: an unknown key, a value of the wrong TOML type (a string for a number, a
//! list for a single value, a table) or a switch that is not `true`/`false` is an error naming
//! the file, the line and column of the key, and what was expected. Values go to clap as
//! `--key=value`, so a negative number reaches the flag's own range check.

use std::any::TypeId;
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Arg, ArgAction};

/// Where a config file set a flag that the command line did not override, so that a later check
/// of its value can name the file and line instead of a flag nobody typed.
#[derive(Debug, Clone, Default)]
pub struct Origins(Vec<Origin>);

#[derive(Debug, Clone)]
struct Origin {
    /// The flag's long name, e.g. `lr-step`.
    long: String,
    /// `path:line:column` of the key.
    at: String,
    /// The key as the file spells it, e.g. `lr_step`.
    key: String,
}

impl Origins {
    /// How a message names the value of flag `long`: `--lr`, or `run.toml:3:1: lr =` when it
    /// came from a config file; the message goes on with the value.
    pub fn label(&self, long: &str) -> String {
        match self.0.iter().find(|o| o.long == long) {
            Some(o) => format!("{}: {} =", o.at, o.key),
            None => format!("--{long}"),
        }
    }
}

/// What a flag takes, read from its clap definition.
#[derive(Debug, PartialEq)]
enum Kind {
    /// A switch (`--quiet`): a TOML boolean.
    Switch,
    /// A real number: a TOML integer or float.
    Number,
    /// A non-negative whole number.
    Count,
    /// A list of non-negative whole numbers (`--hidden 256,128`); one number is a list of one.
    Counts,
    /// A list of numbers (`dropout = [0.2, 0.5]`).
    Numbers,
    /// One of a fixed set of strings: the names `--help` lists, then any aliases also taken.
    Choice {
        /// The listed names.
        names: Vec<String>,
        /// Other spellings taken (`linear` for `identity`).
        aliases: Vec<String>,
    },
    /// A file or directory.
    Path,
    /// Any other string; an integer is taken too (`target = 4`, a column index).
    Text,
}

impl Kind {
    fn of(arg: &Arg) -> Kind {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            return Kind::Switch;
        }
        let parser = arg.get_value_parser();
        let t = parser.type_id();
        if t == TypeId::of::<f64>() {
            if arg.get_value_delimiter().is_some() { Kind::Numbers } else { Kind::Number }
        } else if t == TypeId::of::<usize>() || t == TypeId::of::<u64>() {
            if arg.get_value_delimiter().is_some() { Kind::Counts } else { Kind::Count }
        } else if let Some(values) = parser.possible_values() {
            let values: Vec<_> = values.collect();
            let names: Vec<String> =
                values.iter().filter(|v| !v.is_hide_set()).map(|v| v.get_name().to_string()).collect();
            let aliases = values
                .iter()
                .flat_map(|v| v.get_name_and_aliases())
                .filter(|n| !names.iter().any(|m| m == n))
                .map(str::to_string)
                .collect();
            Kind::Choice { names, aliases }
        } else if t == TypeId::of::<PathBuf>() {
            Kind::Path
        } else {
            Kind::Text
        }
    }

    fn expected(&self, key: &str) -> String {
        match self {
            Kind::Switch => format!("true or false (a TOML boolean, without quotes: {key} = true)"),
            Kind::Number => format!("a number ({key} = 0.5)"),
            Kind::Count => format!("a non-negative whole number ({key} = 20)"),
            Kind::Counts => format!("a list of non-negative whole numbers ({key} = [256, 128], or [] for none)"),
            Kind::Numbers => format!("a list of numbers ({key} = [0.2, 0.5])"),
            Kind::Choice { names, .. } => format!("one of {} (a string: {key} = \"{}\")", names.join(", "), names[0]),
            Kind::Path => format!("a path (a string: {key} = \"file\")"),
            Kind::Text => format!("a string ({key} = \"value\")"),
        }
    }

    /// The flag's value for `v`, or `None` if `v` does not fit (or, for `Switch`, the switch's
    /// presence: `Some("true")` or `Some("false")`).
    fn value(&self, v: &toml::Value) -> Option<String> {
        use toml::Value as V;
        // Display of an f64 reads back to the same value.
        let number = |v: &V| match v {
            V::Integer(i) => Some(i.to_string()),
            V::Float(f) => Some(f.to_string()),
            _ => None,
        };
        let count = |v: &V| match v {
            V::Integer(i) if *i >= 0 => Some(i.to_string()),
            _ => None,
        };
        match (self, v) {
            (Kind::Switch, V::Boolean(b)) => Some(b.to_string()),
            (Kind::Number, v) => number(v),
            (Kind::Count, v) => count(v),
            (Kind::Counts, V::Array(items)) => items.iter().map(count).collect::<Option<Vec<_>>>().map(|v| v.join(",")),
            (Kind::Counts, v) => count(v),
            (Kind::Numbers, V::Array(items)) => {
                items.iter().map(number).collect::<Option<Vec<_>>>().map(|v| v.join(","))
            }
            (Kind::Numbers, v) => number(v),
            (Kind::Choice { names, aliases }, V::String(s)) if names.contains(s) || aliases.contains(s) => {
                Some(s.clone())
            }
            (Kind::Path | Kind::Text, V::String(s)) => Some(s.clone()),
            (Kind::Text, V::Integer(i)) => Some(i.to_string()),
            _ => None,
        }
    }
}

/// `a string ("yes")`, `a table`: what a value is, for messages.
fn found(v: &toml::Value) -> String {
    use toml::Value as V;
    match v {
        V::String(s) => format!("a string ({s:?})"),
        V::Integer(i) => format!("an integer ({i})"),
        V::Float(f) => format!("a number ({f})"),
        V::Boolean(b) => format!("a boolean ({b})"),
        V::Datetime(d) => format!("a date-time ({d})"),
        V::Array(_) => format!("a list ({v})"),
        V::Table(_) => "a table".to_string(),
    }
}

/// Expands `--config FILE` (or `--config=FILE`) in `args` into the file's flags, checked against
/// the flags of the subcommand `args[1]` in `cmd`. Subcommands without `--config` are left to
/// clap. Returns the arguments and where the file set flags the command line does not.
pub fn expand_args(cmd: &clap::Command, args: Vec<OsString>) -> Result<(Vec<OsString>, Origins)> {
    let Some(sub) = args.get(1).and_then(|s| cmd.find_subcommand(s)) else { return Ok((args, Origins::default())) };
    if !sub.get_arguments().any(|a| a.get_long() == Some("config")) {
        return Ok((args, Origins::default()));
    }
    // The subcommand's own arguments, up to `--`; the last --config wins, as for any flag.
    let rest = &args[2.min(args.len())..];
    let own = &rest[..rest.iter().position(|a| a == "--").unwrap_or(rest.len())];
    let pos = own.iter().rposition(|a| a == "--config" || a.to_string_lossy().starts_with("--config="));
    let Some(pos) = pos else { return Ok((args, Origins::default())) };
    let arg = own[pos].to_string_lossy().into_owned();
    let path = match arg.strip_prefix("--config=") {
        Some(p) => p.to_string(),
        None => own.get(pos + 1).map(|p| p.to_string_lossy().into_owned()).context("--config needs a file")?,
    };
    // Bounded: a config is a few lines; `/dev/zero` or a huge file must not fill memory.
    let raw = shardprop::memory::read_capped(std::path::Path::new(&path), 1 << 20)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot read {path}"))?;
    let text = String::from_utf8(raw).map_err(|e| {
        anyhow!("{path}: byte {}: not UTF-8 text (a config file is TOML)", e.utf8_error().valid_up_to())
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map(|s| line_col(&text, s.start)).map_or(String::new(), |(l, c)| format!("{l}:{c}: "));
        anyhow!("{path}:{at}{}", e.message())
    })?;
    let mut keys = key_positions(&text);
    keys.sort_by_key(|&(_, start)| start);
    let given = |long: &str| {
        own.iter()
            .any(|a| a.to_str().is_some_and(|a| a.strip_prefix("--").and_then(|a| a.split('=').next()) == Some(long)))
    };
    let name = sub.get_name();
    let mut out: Vec<OsString> = args[..2].to_vec();
    let mut origins = Origins::default();
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (key, start) in keys {
        let Some(value) = table.get(&key) else { continue };
        let (line, col) = line_col(&text, start);
        let at = format!("{path}:{line}:{col}");
        let long = key.replace('_', "-");
        // `batch-size` and `batch_size` are one key: set twice, one would silently win.
        if let Some(first) = seen.insert(long.clone(), key.clone()) {
            bail!("{at}: key {key:?} sets the same flag as {first:?} earlier in the file (--{long}); keep one");
        }
        if ["help", "version", "config"].contains(&long.as_str()) {
            bail!("{at}: key {key:?}: not allowed in a config file (expected a {name} flag, e.g. lr = 0.5)");
        }
        let Some(flag) = sub.get_arguments().find(|a| a.get_long() == Some(long.as_str())) else {
            let known: Vec<&str> = sub
                .get_arguments()
                .filter_map(Arg::get_long)
                .filter(|l| !["help", "version", "config"].contains(l))
                .collect();
            bail!("{at}: unknown key {key:?} (expected a {name} flag: {})", known.join(", "));
        };
        let kind = Kind::of(flag);
        let Some(v) = kind.value(value) else {
            bail!("{at}: key {key:?}: expected {}, found {}", kind.expected(&key), found(value));
        };
        if kind == Kind::Switch {
            if v == "true" {
                out.push(format!("--{long}").into());
            }
        } else {
            out.push(format!("--{long}={v}").into());
        }
        if !given(&long) {
            origins.0.push(Origin { long, at, key });
        }
    }
    out.extend(args.iter().skip(2).cloned());
    Ok((out, origins))
}

/// The top-level keys of a TOML text that parses, with the byte offset of each.
fn key_positions(text: &str) -> Vec<(String, usize)> {
    match toml::de::DeTable::parse(text) {
        Ok(t) => t.get_ref().iter().map(|(k, _)| (k.get_ref().to_string(), k.span().start)).collect(),
        Err(_) => Vec::new(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.chars().count() - before.rfind('\n').map_or(0, |i| before[..=i].chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        assert_eq!(line_col("lr = 1\n", 0), (1, 1));
        assert_eq!(line_col("a = \"é\"\n  lr = 1", 11), (2, 3));
        assert_eq!(line_col("é = 1", 5), (1, 5));
    }
}
