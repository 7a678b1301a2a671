//! `--target cilium` (arriving next).

use super::{Resource, SourceLines};
use crate::allow::AllowTable;
use crate::diagnostic::Diagnostic;
use crate::ir::Ir;

pub fn emit(
    _ir: &Ir,
    _table: &AllowTable,
    _sources: &SourceLines<'_>,
) -> Result<Vec<Resource>, Vec<Diagnostic>> {
    Ok(Vec::new())
}
