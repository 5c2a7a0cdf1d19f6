//! Byte offsets (what spans hold) to LSP positions (lines and UTF-16 columns)
//! and back. Every conversion clamps: a position past the end of a line or of
//! the text means its end, never a panic.

use lsp_types::{Position, Range};

/// The starts of the lines of one text.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of a byte offset (clamped to the text, and back to a char boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col: usize = self
            .text
            .get(start..offset)
            .unwrap_or("")
            .chars()
            .map(char::len_utf16)
            .sum();
        Position::new(to_u32(line), to_u32(col))
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The byte offset of a position (a column past the line's end is its end;
    /// a line past the last is the end of the text).
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |e| e.saturating_sub(1));
        let line = self.text.get(start..end).unwrap_or("");
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Applies one `didChange` edit: `range` replaced by `new`, or the whole text
/// when there is no range.
pub fn apply_change(text: &mut String, range: Option<Range>, new: &str) {
    match range {
        None => *text = new.to_string(),
        Some(range) => {
            let index = LineIndex::new(text);
            let start = index.offset(range.start);
            let end = index.offset(range.end).max(start);
            text.replace_range(start..end, new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_round_trip() {
        let text = "a = \"é😀x\"\nb";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or(0);
        let pos = index.position(x);
        assert_eq!(pos, Position::new(0, 8));
        assert_eq!(index.offset(pos), x);
        assert_eq!(index.position(text.len()), Position::new(1, 1));
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let text = "ab\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(Position::new(0, 99)), 2);
        assert_eq!(index.offset(Position::new(9, 0)), text.len());
        assert_eq!(index.position(999), Position::new(1, 2));
    }

    #[test]
    fn incremental_edits_apply() {
        let mut text = "resource a: k8s.App {\n}\n".to_string();
        apply_change(
            &mut text,
            Some(Range::new(Position::new(1, 0), Position::new(1, 0))),
            "  image = \"x\"\n",
        );
        assert_eq!(text, "resource a: k8s.App {\n  image = \"x\"\n}\n");
        apply_change(
            &mut text,
            Some(Range::new(Position::new(5, 0), Position::new(2, 0))),
            "",
        );
        assert_eq!(text, "resource a: k8s.App {\n  image = \"x\"\n}\n");
    }
}
