//! Class labels to ids: first-seen numbering while reading, sorted (numerically when every label
//! is a number) at the end; a number written two ways is one class, decided on its exact
//! decimal value.

use std::collections::HashMap;

use super::reader::RecordReader;
use crate::error::Result;

/// Assigns class ids in first-seen order and, at the end, renumbers them in sorted order
/// (numerically when every label is a number), so the output units do not depend on row order.
#[derive(Clone, Default)]
pub struct ClassMap {
    ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
    pub(super) fixed: bool,
    /// For a fixed map whose classes are all numbers: each class's exact decimal value, built
    /// at the first label not found by its text (one lookup per label, not a scan).
    values: Option<HashMap<(bool, String, i64), u32>>,
}

impl ClassMap {
    /// A map that accepts only the given classes (a test set against a training set's classes).
    pub fn fixed(classes: &[String]) -> Self {
        let ids = classes.iter().enumerate().map(|(i, c)| (c.clone(), i as u32)).collect();
        Self { ids, names: classes.to_vec(), fixed: true, values: None }
    }

    /// The id of field `j` of the current record.
    pub fn id(&mut self, rr: &RecordReader<'_>, j: usize) -> Result<u32> {
        let label = rr.field(j);
        if let Some(&id) = self.ids.get(label) {
            return Ok(id);
        }
        if label.is_empty() {
            return Err(rr.error(j, format!("column {}: empty label", j + 1)));
        }
        self.id_of(label).map_err(|msg| rr.error(j, msg))
    }

    /// The id of a non-empty `label` from any source (a Parquet column's text), numbered as
    /// [`ClassMap::id`] numbers a CSV field with that text; the error says what is wrong, without
    /// a place.
    pub fn id_of(&mut self, label: &str) -> std::result::Result<u32, String> {
        if let Some(&id) = self.ids.get(label) {
            return Ok(id);
        }
        if self.fixed {
            // A number written another way (`1.0` for a model's `1`) is the same class.
            let names = &self.names;
            let values = self.values.get_or_insert_with(|| {
                let keys: Option<Vec<_>> = names.iter().map(|n| decimal_key(n)).collect();
                keys.map(|k| k.into_iter().zip(0u32..).collect()).unwrap_or_default()
            });
            if let Some(&id) = decimal_key(label).and_then(|k| values.get(&k)) {
                self.ids.insert(label.to_string(), id);
                return Ok(id);
            }
            // At most 10 names: with --skip-bad-rows this message is built for every such row.
            let mut known = self.names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
            if self.names.len() > 10 {
                known += &format!(", ... ({} classes)", self.names.len());
            }
            return Err(format!("label {label:?} was never seen in training (known: {known})"));
        }
        let id = self.names.len() as u32;
        self.ids.insert(label.to_string(), id);
        self.names.push(label.to_string());
        Ok(id)
    }

    /// The id of `name`, numbering it next if it is new (merging another map's names).
    pub(super) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.names.push(name.to_string());
        id
    }

    /// The class names in output-unit order, and for each first-seen id its unit.
    pub fn into_units(self) -> (Vec<String>, Vec<u32>) {
        if self.fixed {
            let identity = (0..self.names.len() as u32).collect();
            return (self.names, identity);
        }
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        let values: Option<Vec<f64>> = self.names.iter().map(|n| n.parse::<f64>().ok()).collect();
        let mut unit = vec![0u32; order.len()];
        let mut names = Vec::with_capacity(order.len());
        if let Some(v) = values {
            // Numeric labels are ordered by value, and one number written two ways (`1`, `1.0`,
            // `01`, `1e0`) is one class, named as first seen. "The same number" is decided on the
            // decimal text, exactly: 2^53 + 1 and 2^53 stay two classes although they round to
            // one f64.
            let keys: Vec<Option<(bool, String, i64)>> = self.names.iter().map(|n| decimal_key(n)).collect();
            order.sort_by(|&a, &b| v[a].total_cmp(&v[b]).then_with(|| keys[a].cmp(&keys[b])).then(a.cmp(&b)));
            for (k, &id) in order.iter().enumerate() {
                let prev = k.checked_sub(1).map(|p| order[p]);
                if prev.is_none_or(|p| keys[id].is_none() || keys[id] != keys[p]) {
                    names.push(self.names[id].clone());
                }
                unit[id] = (names.len() - 1) as u32;
            }
        } else {
            order.sort_by(|&a, &b| self.names[a].cmp(&self.names[b]));
            for (u, &id) in order.iter().enumerate() {
                unit[id] = u as u32;
                names.push(self.names[id].clone());
            }
        }
        (names, unit)
    }
}

/// A decimal number's exact value as (negative, significant digits, exponent): `1`, `1.0`, `01`,
/// `+1` and `1e0` give the same key, `0.1` and `0.10000000000000001` do not. `None` for text that
/// is not a plain decimal (`inf`, `NaN`, names).
fn decimal_key(s: &str) -> Option<(bool, String, i64)> {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some((false, "0".into(), 0)); // every zero, -0 included
    }
    let trail = digits.len() - digits.trim_end_matches('0').len();
    let exp = exp.checked_sub(frac.len() as i64)?.checked_add(trail as i64)?;
    Some((neg, digits.trim_end_matches('0').to_string(), exp))
}
