//! Scenario errors: where in which file, what, and how to fix it.

use std::fmt;

/// A scenario error: where in which file, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file (as given).
    pub file: String,
    /// 1-based line, 0 when the error is not tied to a place.
    pub line: usize,
    /// 1-based column, 0 when the error is not tied to a place.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something to say.
    pub hint: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// A hint for a parse error, from its message.
pub(super) fn hint_for(message: &str) -> Option<String> {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest
            .split("expected ")
            .nth(1)
            .map(|list| {
                list.split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, name)| name)
                    .collect()
            })
            .unwrap_or_default();
        // A key the typo is the start of comes first (`ramp` → `ramp_rate`),
        // then the closest by edit distance.
        let best = expected
            .iter()
            .find(|e| e.starts_with(field) && !field.is_empty())
            .map(|e| (0, *e))
            .or_else(|| {
                expected
                    .iter()
                    .map(|e| (strsim::damerau_levenshtein(field, e), *e))
                    .min()
            });
        return match best {
            Some((d, e)) if d <= 3 => Some(format!("did you mean `{e}`?")),
            _ if !expected.is_empty() => Some(format!("known keys here: {}", expected.join(", "))),
            _ => None,
        };
    }
    if message.contains("unknown variant") {
        return Some("see scenarios/README.md for the allowed values".to_owned());
    }
    if message.contains("missing field") {
        return Some("see scenarios/README.md for the keys every scenario needs".to_owned());
    }
    None
}
