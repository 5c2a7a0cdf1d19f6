//! Byte offsets (what spans hold) to LSP positions (lines and UTF-16 columns)
//! and back. Every conversion clamps: a position past the end of a line or of
//! the text means its end, never a panic.

use std::borrow::Cow;

use lsp_types::{Position, Range};
use tpt_lang::source::SourceFile;

/// The starts of the lines of one text.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Cow<'t, [u32]>,
}

impl<'t> LineIndex<'t> {
    /// The index of a text, made now (one pass over it).
    pub fn new(text: &'t str) -> LineIndex<'t> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| to_u32(i + 1)));
        LineIndex {
            text,
            starts: Cow::Owned(starts),
        }
    }

    /// The index of a loaded file: the line starts it keeps, computed once
    /// when it was loaded (making them again for every location turned every
    /// list of locations in a file into a quadratic walk).
    pub fn of(file: &'t SourceFile) -> LineIndex<'t> {
        LineIndex {
            text: &file.text,
            starts: Cow::Borrowed(file.line_starts()),
        }
    }

    /// The position of a byte offset (clamped to the text, and back to a char boundary).
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|s| *s as usize <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).map_or(0, |s| *s as usize);
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
        let Some(start) = self.starts.get(pos.line as usize).map(|s| *s as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(self.text.len(), |e| (*e as usize).saturating_sub(1));
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

/// Whether two ranges share a position (touching counts).
pub fn overlaps(a: &Range, b: &Range) -> bool {
    a.start <= b.end && b.start <= a.end
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
    fn a_loaded_file_answers_like_its_text() {
        let text = "a = 1\n\nb = \"é😀\"\r\nc\n";
        let file = SourceFile::new("main.tpt", text);
        let (kept, made) = (LineIndex::of(&file), LineIndex::new(text));
        for offset in 0..=text.len() + 2 {
            assert_eq!(kept.position(offset), made.position(offset), "{offset}");
        }
        for line in 0..6 {
            for character in 0..12 {
                let pos = Position::new(line, character);
                assert_eq!(kept.offset(pos), made.offset(pos), "{pos:?}");
            }
        }
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
