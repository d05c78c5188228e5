//! Parquet files for the tests, written with the parquet crate's own writer: columns of each
//! type the reader takes (and one it refuses), cut into row groups, and a CSV file's columns.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// One column's values, of one Parquet type.
#[derive(Clone)]
pub enum Col {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Text(Vec<String>),
    /// `optional double`: `None` is a null.
    OptF64(Vec<Option<f64>>),
    /// `required int32 (DATE)`: a type the reader refuses.
    Date(Vec<i32>),
}

impl Col {
    /// Rows in the column.
    pub fn len(&self) -> usize {
        match self {
            Col::F32(v) => v.len(),
            Col::F64(v) => v.len(),
            Col::I32(v) | Col::Date(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::Text(v) => v.len(),
            Col::OptF64(v) => v.len(),
        }
    }
    fn schema(&self, name: &str) -> String {
        match self {
            Col::F32(_) => format!("required float {name};"),
            Col::F64(_) => format!("required double {name};"),
            Col::I32(_) => format!("required int32 {name};"),
            Col::I64(_) => format!("required int64 {name};"),
            Col::Text(_) => format!("required binary {name} (UTF8);"),
            Col::OptF64(_) => format!("optional double {name};"),
            Col::Date(_) => format!("required int32 {name} (DATE);"),
        }
    }
}

/// Writes `cols` to `path` as one Parquet file, `group` rows per row group, uncompressed.
pub fn write(path: &Path, cols: &[(String, Col)], group: usize) {
    let fields: String = cols.iter().map(|(n, c)| c.schema(n)).collect::<Vec<_>>().join(" ");
    let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
    let n = cols[0].1.len();
    for a in (0..n).step_by(group.max(1)) {
        let b = (a + group).min(n);
        let mut rg = w.next_row_group().unwrap();
        for (_, col) in cols {
            let mut c = rg.next_column().unwrap().unwrap();
            match col {
                Col::F32(v) => c.typed::<FloatType>().write_batch(&v[a..b], None, None),
                Col::F64(v) => c.typed::<DoubleType>().write_batch(&v[a..b], None, None),
                Col::I32(v) | Col::Date(v) => c.typed::<Int32Type>().write_batch(&v[a..b], None, None),
                Col::I64(v) => c.typed::<Int64Type>().write_batch(&v[a..b], None, None),
                Col::Text(v) => {
                    let bytes: Vec<ByteArray> = v[a..b].iter().map(|s| ByteArray::from(s.as_str())).collect();
                    c.typed::<ByteArrayType>().write_batch(&bytes, None, None)
                }
                Col::OptF64(v) => {
                    let defs: Vec<i16> = v[a..b].iter().map(|x| i16::from(x.is_some())).collect();
                    let vals: Vec<f64> = v[a..b].iter().flatten().copied().collect();
                    c.typed::<DoubleType>().write_batch(&vals, Some(&defs), None)
                }
            }
            .unwrap();
            c.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

/// Rows `a..b` of every column.
pub fn slice(cols: &[(String, Col)], a: usize, b: usize) -> Vec<(String, Col)> {
    let cut = |c: &Col| match c {
        Col::F32(v) => Col::F32(v[a..b].to_vec()),
        Col::F64(v) => Col::F64(v[a..b].to_vec()),
        Col::I32(v) => Col::I32(v[a..b].to_vec()),
        Col::I64(v) => Col::I64(v[a..b].to_vec()),
        Col::Text(v) => Col::Text(v[a..b].to_vec()),
        Col::OptF64(v) => Col::OptF64(v[a..b].to_vec()),
        Col::Date(v) => Col::Date(v[a..b].to_vec()),
    };
    cols.iter().map(|(n, c)| (n.clone(), cut(c))).collect()
}

/// The columns of a headed CSV file without quotes (iris, digits): features parsed from their
/// text as `f32` or `f64` (`double`), the last column as integer labels.
pub fn csv_columns(csv: &Path, double: bool) -> Vec<(String, Col)> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let names: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let k = names.len() - 1;
    let mut cols: Vec<(String, Col)> = names[..k]
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let col = if double {
                Col::F64(rows.iter().map(|r| r[j].parse().unwrap()).collect())
            } else {
                Col::F32(rows.iter().map(|r| r[j].parse().unwrap()).collect())
            };
            (n.clone(), col)
        })
        .collect();
    cols.push((names[k].clone(), Col::I32(rows.iter().map(|r| r[k].parse().unwrap()).collect())));
    cols
}
