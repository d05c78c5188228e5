//! `--config run.toml`: the file's keys become flags placed before the command line's own, so
//! that (with clap's `args_override_self`) the command line wins.

use std::ffi::OsString;

use anyhow::{Context, Result, bail};

/// Expands `--config FILE` (or `--config=FILE`) in `args` into the file's flags.
pub fn expand_args(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let pos = args.iter().position(|a| a == "--config" || a.to_string_lossy().starts_with("--config="));
    let Some(pos) = pos else { return Ok(args) };
    let arg = args[pos].to_string_lossy().into_owned();
    let path = match arg.strip_prefix("--config=") {
        Some(p) => p.to_string(),
        None => args.get(pos + 1).map(|p| p.to_string_lossy().into_owned()).context("--config needs a file")?,
    };
    // Bounded: a config is a few lines; `/dev/zero` or a huge file must not fill memory.
    let raw = shardprop::memory::read_capped(std::path::Path::new(&path), 1 << 20)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot read {path}"))?;
    let text = String::from_utf8(raw).map_err(|e| {
        anyhow::anyhow!("{path}: byte {}: not UTF-8 text (a config file is TOML)", e.utf8_error().valid_up_to())
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map(|s| line_col(&text, s.start)).map_or(String::new(), |(l, c)| format!("{l}:{c}: "));
        anyhow::anyhow!("{path}:{at}{}", e.message())
    })?;
    // The subcommand is the first argument after the program name.
    let mut out: Vec<OsString> = args[..2.min(args.len())].to_vec();
    for (key, value) in &table {
        let flag = format!("--{}", key.replace('_', "-"));
        match value {
            toml::Value::Boolean(true) => out.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                let parts: Result<Vec<String>> = items.iter().map(|v| scalar(&path, key, v)).collect();
                out.push(flag.into());
                out.push(parts?.join(",").into());
            }
            v => {
                out.push(flag.into());
                out.push(scalar(&path, key, v)?.into());
            }
        }
    }
    out.extend(args.iter().skip(2).cloned());
    Ok(out)
}

fn scalar(path: &str, key: &str, v: &toml::Value) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("{path}: key {key:?}: expected a string, number, boolean or a list of them"),
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}
