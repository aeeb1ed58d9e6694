//! What the data-file tables share: their escapes.

/// Undoes the tables' escapes: `\t`, `\r`, `\n` and `\\`.
pub(crate) fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            other => return Err(format!("bad escape \\{other:?}")),
        }
    }
    Ok(out)
}
